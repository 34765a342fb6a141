//! The one boundary helper of the Node binding: catches panics and maps `embedrec::Error` to
//! a JS `Error` whose `code` is the stable core error code (`INVALID_INPUT`, `CORRUPT`, ...).

use napi::bindgen_prelude::JsObjectValue;
use napi::{Env, JsValue, Status};

pub(crate) use embedrec_host::guard;

/// Builds the JS error for a core error: `message` names the value, `code` the kind.
pub(crate) fn js_err(env: &Env, e: embedrec::Error) -> napi::Error {
    let code = e.code();
    let make = || -> napi::Result<napi::Error> {
        let mut obj = env.create_error(napi::Error::new(Status::GenericFailure, e.to_string()))?;
        obj.set_named_property("code", code)?;
        Ok(napi::Error::from(obj.to_unknown()))
    };
    make().unwrap_or_else(|err| err)
}

/// Runs core work on the calling thread: panics caught, errors mapped.
pub(crate) fn run<T>(env: &Env, f: impl FnOnce() -> embedrec::Result<T>) -> napi::Result<T> {
    guard(f).map_err(|e| js_err(env, e))
}

/// An argument-conversion error with the core's message format.
pub(crate) fn invalid(field: &str, expected: &str, got: impl std::fmt::Display) -> embedrec::Error {
    embedrec::Error::invalid(field, expected, got)
}
