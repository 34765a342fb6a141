//! Prometheus expositions of several engines, and of the workers of a `cluster`.

use crate::{engine, error, value};
use napi::bindgen_prelude::{ClassInstance, JsObjectValue, Object, Unknown};
use std::sync::Arc;

/// `{ name: engine }` read as named engines.
fn named(
    env: &napi::Env,
    engines: &Object<'_>,
) -> napi::Result<Vec<(String, Arc<embedrec::Engine>)>> {
    let mut named = Vec::new();
    for key in Object::keys(engines)? {
        let e: ClassInstance<engine::Engine> = engines.get_named_property(&key).map_err(|_| {
            let field = format!("engines[{key:?}]");
            error::js_err(
                env,
                embedrec::Error::invalid(field, "an Engine", "another value"),
            )
        })?;
        named.push((key, e.inner.clone()));
    }
    Ok(named)
}

fn pairs(named: &[(String, Arc<embedrec::Engine>)]) -> Vec<(&str, &embedrec::Engine)> {
    named
        .iter()
        .map(|(k, e)| (k.as_str(), e.as_ref()))
        .collect()
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
    engines: Object<'_>,
    options: Option<Unknown<'_>>,
) -> napi::Result<String> {
    let o = error::run(&env, || {
        embedrec_host::Options::new("options", engine::STYLE, value::opt("options", options)?)
            .and_then(embedrec_host::exposition_options)
    })?;
    let named = named(&env, &engines)?;
    error::run(&env, || embedrec::metrics_text(&pairs(&named), &o))
}

/// Writes this worker's exposition of `{ name: engine }` (`pid` label on) to
/// `directory/embedrec-<pid>.prom`, atomically (the directory is created if missing);
/// returns the file. Every worker of a `cluster` calls it now and then (and before
/// answering a scrape); `gatherWorkerMetrics` then returns all of them.
#[napi_derive::napi(
    catch_unwind,
    ts_args_type = "directory: string, engines: Record<string, Engine>"
)]
pub fn write_worker_metrics(
    env: napi::Env,
    directory: String,
    engines: Object<'_>,
) -> napi::Result<String> {
    let named = named(&env, &engines)?;
    error::run(&env, || {
        embedrec::persist::write_worker_metrics(&directory, &pairs(&named))
            .map(|p| p.to_string_lossy().into_owned())
    })
}

/// Every worker's exposition in `directory`, merged: each family's HELP and TYPE once,
/// each worker's samples with its `pid` label. Files of workers that no longer run are
/// removed (Linux).
#[napi_derive::napi(catch_unwind)]
pub fn gather_worker_metrics(env: napi::Env, directory: String) -> napi::Result<String> {
    error::run(&env, || {
        embedrec::persist::gather_worker_metrics(&directory)
    })
}

/// Removes worker `pid`'s file from `directory` (call it when a worker exits).
#[napi_derive::napi(catch_unwind, ts_args_type = "directory: string, pid: number")]
pub fn forget_worker_metrics(
    env: napi::Env,
    directory: String,
    pid: Unknown<'_>,
) -> napi::Result<()> {
    error::run(&env, || {
        let pid = value::int("pid", &pid)?;
        let pid = u32::try_from(pid).map_err(|_| {
            embedrec::Error::invalid("pid", "a process id (at most 4294967295)", pid)
        })?;
        embedrec::persist::forget_worker_metrics(&directory, pid)
    })
}
