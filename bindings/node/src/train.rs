//! Splits for evaluation, and the test hooks of the boundary.

use crate::engine::{CoreTask, Done, timestamps};
use crate::error::run;
use crate::value::{ids, opt};
use embedrec::eval::Interactions;
use embedrec_host::{Options, Style};
use napi::Env;
use napi::bindgen_prelude::*;
use napi_derive::napi;

pub(crate) fn interactions(
    users: Vec<String>,
    items: Vec<String>,
    weights: Option<Vec<f32>>,
    timestamps: Option<Vec<i64>>,
) -> embedrec::Result<Interactions> {
    embedrec_host::interactions_from(Style::Camel, users, items, weights, timestamps)
}

/// Reads the interactions and the options, splits, and shapes `{ train, test }`.
fn split(
    env: &Env,
    data: Unknown<'_>,
    options: Option<Unknown<'_>>,
    how: impl FnOnce(&Interactions, Options) -> embedrec::Result<(Interactions, Interactions)>,
) -> Result<serde_json::Value> {
    run(env, || {
        let o = Options::new("options", Style::Camel, opt("options", options)?)?;
        let d = columns(&data)?;
        let (train, test) = how(&d, o)?;
        Ok(serde_json::json!({
            "train": embedrec_host::interactions(Style::Camel, &train),
            "test": embedrec_host::interactions(Style::Camel, &test),
        }))
    })
}

/// Interactions given as one object `{ userIds, itemIds, weights?, timestamps? }` (the shape
/// of a split's `train` and `test`).
fn columns(data: &Unknown<'_>) -> embedrec::Result<Interactions> {
    let not_object = || {
        embedrec::Error::invalid(
            "interactions",
            "an object { userIds, itemIds, weights?, timestamps? }",
            "another value",
        )
    };
    if data.get_type().map_err(|_| not_object())? != ValueType::Object {
        return Err(not_object());
    }
    // SAFETY: checked to be an object just above.
    let obj: Object<'_> = unsafe { data.cast() }.map_err(|_| not_object())?;
    let field = |name: &str| -> embedrec::Result<Option<Unknown<'_>>> {
        (obj.get::<Unknown<'_>>(name)).map_err(|e| {
            embedrec::Error::invalid(format!("interactions.{name}"), "a readable property", e)
        })
    };
    let required = |name: &str| {
        field(name)?.ok_or_else(|| {
            embedrec::Error::invalid(format!("interactions.{name}"), "an array of ids", "nothing")
        })
    };
    let users = ids("interactions.userIds", &required("userIds")?)?;
    let items = ids("interactions.itemIds", &required("itemIds")?)?;
    let w = crate::engine::weights(field("weights")?)?;
    let ts = self::timestamps(field("timestamps")?)?;
    interactions(users, items, w, ts)
}

/// Per-user random holdout split: for users with at least `minInteractions` (default 5),
/// `round(testFraction * n)` (default 0.2; at least 1) chosen with `seed` (default 42) go
/// to test.
#[napi(
    catch_unwind,
    ts_args_type = "interactions: InteractionColumns, options?: HoldoutOptions | undefined | null",
    ts_return_type = "Split"
)]
pub fn holdout_split(
    env: Env,
    interactions: Unknown<'_>,
    options: Option<Unknown<'_>>,
) -> Result<serde_json::Value> {
    split(&env, interactions, options, |d, o| {
        let p = embedrec_host::holdout_params(o)?;
        embedrec::eval::holdout_split(d, p.test_fraction, p.min_interactions, p.seed)
    })
}

/// Leave-last-out split: each user's latest interaction (by timestamp) goes to test, for
/// users with at least `minInteractions` (default 2).
#[napi(
    catch_unwind,
    ts_args_type = "interactions: InteractionColumns, options?: LeaveLastOutOptions | undefined | null",
    ts_return_type = "Split"
)]
pub fn leave_last_out(
    env: Env,
    interactions: Unknown<'_>,
    options: Option<Unknown<'_>>,
) -> Result<serde_json::Value> {
    split(&env, interactions, options, |d, o| {
        let p = embedrec_host::leave_last_out_params(o)?;
        embedrec::eval::leave_last_out(d, p.min_interactions)
    })
}

/// Test hook, not part of the API: a panic inside the core boundary (must throw `INTERNAL`).
#[napi(catch_unwind, js_name = "_debugPanic", skip_typescript)]
pub fn debug_panic(env: Env) -> Result<()> {
    run(&env, || -> embedrec::Result<()> {
        panic!("deliberate panic for tests")
    })
}

/// Test hook, not part of the API: a panic inside an async task (must reject with
/// `INTERNAL`).
#[napi(catch_unwind, js_name = "_debugPanicAsync", skip_typescript)]
pub fn debug_panic_async() -> AsyncTask<CoreTask> {
    CoreTask::spawn(|| -> embedrec::Result<Done> { panic!("deliberate panic for tests") })
}
