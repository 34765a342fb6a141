//! What both bindings of embedrec share, so that they cannot diverge: every host value is
//! read here (options objects and keyword arguments, integers, filters, model parameters,
//! item attributes) with the core's defaults and one set of error messages, and every
//! result, statistic and report is shaped here.
//!
//! A binding converts its host objects into a [`Value`] (its own code, a few lines per
//! type), calls one function of this crate and the core, and converts the shaped result
//! (a `serde_json::Value`) back. Keys follow the host's [`Style`]: `snake_case` for Python,
//! `camelCase` for Node; an unknown key is an error in both.

mod attrs;
mod ids;
mod options;
mod shape;
mod value;

pub use attrs::{Attributes, attr_update, item_attrs, update_options, upsert_options};
pub use ids::{HostId, MAX_SAFE_INTEGER, host_id, id, ids, integer_id, json_id, str_id};
pub use options::{
    FitCall, SplitParams, engine_config, engine_options, exposition_options, factor_params, filter,
    fit_call, from_bytes_options, hit_options, holdout_params, interactions as interactions_from,
    leave_last_out_params, model_spec, open_options, recommend_call, recommend_options,
    sharded_open_options,
};
pub use shape::{
    config, fit_report, hits, interactions, item_attributes, model_spec as spec_json, progress,
    ranking_metrics, stats, tune_report,
};
pub use value::{Options, Style, Value, to_f64, to_i64, to_usize};

/// Results a query returns when the caller names no `k` (Python's keyword default; Node
/// takes `k` always).
pub const DEFAULT_K: usize = 10;

/// Hands freed heap pages back to the operating system after a binding dropped the
/// arguments it converted for a batch of `items` items (large batches only; glibc's
/// `malloc_trim`, a no-op elsewhere). 100,000 ids with one attribute left 16 MB of freed
/// holes resident otherwise.
pub fn release_after_batch(items: usize) {
    const RELEASE_AFTER: usize = 4096;
    if items < RELEASE_AFTER {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the process heap; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs core work, turning a panic into [`embedrec::Error::Internal`]: no panic crosses
/// into a host.
pub fn guard<T>(f: impl FnOnce() -> embedrec::Result<T>) -> embedrec::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(embedrec::Error::from_panic(p)))
}
