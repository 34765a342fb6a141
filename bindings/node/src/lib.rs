//! Node binding of embedrec (napi-rs): a thin layer. Each method converts its arguments,
//! calls the core once through [`error::run`] (panics caught, errors mapped to JS `Error`s
//! with a stable `code`), and converts the result. Heavy calls run on the libuv pool as
//! `AsyncTask`s and return Promises.
#![deny(clippy::all)]

mod engine;
mod error;
