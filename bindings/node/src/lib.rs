//! Node binding of embedrec (napi-rs): a thin layer. Each method converts its arguments,
//! calls the core once through [`error::run`] (panics caught, errors mapped to JS `Error`s
//! with a stable `code`), and converts the result. Heavy calls run on the libuv pool as
//! `AsyncTask`s and return Promises.
#![deny(clippy::all)]

mod engine;
mod error;
mod sharded;
mod train;
mod types;
mod value;

/// Distance kernels chosen for this CPU at run time: "avx512", "avx2+fma", "neon" or "scalar".
#[napi_derive::napi]
pub fn simd_level() -> &'static str {
    embedrec::simd_level()
}

/// Prometheus text exposition of several engines, `{ name: engine }`: each family's HELP
/// and TYPE once, every sample labelled `engine="<name>"`. `{ pid: true }` adds
/// `pid="<process id>"`, so that the workers of a `cluster` give distinct series.
/// Latencies are histograms with fixed buckets, which add up across engines and processes.
#[napi_derive::napi(
    catch_unwind,
    ts_args_type = "engines: Record<string, Engine>, options?: { pid?: boolean } | undefined | null"
)]
pub fn metrics_text(
    env: napi::Env,
    engines: napi::bindgen_prelude::Object<'_>,
    options: Option<napi::bindgen_prelude::Unknown<'_>>,
) -> napi::Result<String> {
    use napi::bindgen_prelude::{ClassInstance, JsObjectValue};
    let o = error::run(&env, || {
        embedrec_host::Options::new("options", engine::STYLE, value::opt("options", options)?)
            .and_then(embedrec_host::exposition_options)
    })?;
    let mut named = Vec::new();
    for key in napi::bindgen_prelude::Object::keys(&engines)? {
        let e: ClassInstance<engine::Engine> = engines.get_named_property(&key).map_err(|_| {
            let field = format!("engines[{key:?}]");
            error::js_err(
                &env,
                embedrec::Error::invalid(field, "an Engine", "another value"),
            )
        })?;
        named.push((key, e.inner.clone()));
    }
    let pairs: Vec<(&str, &embedrec::Engine)> = named
        .iter()
        .map(|(k, e)| (k.as_str(), e.as_ref()))
        .collect();
    error::run(&env, || embedrec::metrics_text(&pairs, &o))
}
