//! Node binding of embedrec (napi-rs): a thin layer. Each method converts its arguments,
//! calls the core once through [`error::run`] (panics caught, errors mapped to JS `Error`s
//! with a stable `code`), and converts the result. Heavy calls run on the libuv pool as
//! `AsyncTask`s and return Promises.
#![deny(clippy::all)]

mod engine;
mod error;
mod metrics;
mod sharded;
mod train;
mod types;
mod value;

/// Distance kernels chosen for this CPU at run time: "avx512", "avx2+fma", "neon" or "scalar".
#[napi_derive::napi]
pub fn simd_level() -> &'static str {
    embedrec::simd_level()
}
