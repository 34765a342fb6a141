//! JavaScript values to the shared layer's [`Value`].

use embedrec::{Error, Result};
use embedrec_host::Value;
use napi::bindgen_prelude::{Array, Object, Unknown};
use napi::{JsValue, ValueType};

/// Deepest nesting read from an options object (they are a few levels deep; a deeper or
/// cyclic object is an error, not a stack overflow).
const MAX_DEPTH: usize = 32;

fn napi(e: napi::Error) -> Error {
    Error::Internal(format!("cannot read a JavaScript value: {e}"))
}

/// Any JavaScript value as a [`Value`]: `undefined` and `null` are [`Value::Null`] (absent),
/// numbers [`Value::Num`], BigInts [`Value::Int`], arrays lists, plain objects mappings.
/// Anything else (functions, symbols, typed arrays inside options) is an error naming
/// `field`.
pub(crate) fn value(field: &str, v: &Unknown<'_>) -> Result<Value> {
    read(field, v, 0)
}

fn read(field: &str, v: &Unknown<'_>, depth: usize) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(Error::invalid(
            field,
            "an object nested at most 32 deep",
            "a deeper one",
        ));
    }
    let bad = |got: &str| {
        Error::invalid(
            field,
            "undefined, null, a boolean, a number, a string, an array or a plain object",
            got,
        )
    };
    Ok(match v.get_type().map_err(napi)? {
        ValueType::Undefined | ValueType::Null => Value::Null,
        // SAFETY (each cast): the value's type was just checked.
        ValueType::Boolean => Value::Bool(unsafe { v.cast::<bool>() }.map_err(napi)?),
        ValueType::Number => Value::Num(unsafe { v.cast::<f64>() }.map_err(napi)?),
        ValueType::String => Value::Str(unsafe { v.cast::<String>() }.map_err(napi)?),
        ValueType::BigInt => {
            let b: napi::bindgen_prelude::BigInt = unsafe { v.cast() }.map_err(napi)?;
            match b.get_i128() {
                (i, true) => Value::Int(i),
                _ => return Err(bad("a BigInt beyond 128 bits")),
            }
        }
        ValueType::Object => {
            let mut is_array = false;
            let mut is_typed = false;
            // SAFETY: plain N-API queries on a live value of this call.
            unsafe {
                napi::sys::napi_is_array(v.value().env, v.raw(), &mut is_array);
                napi::sys::napi_is_typedarray(v.value().env, v.raw(), &mut is_typed);
            }
            if is_typed {
                return Err(bad("a typed array"));
            }
            if is_array {
                let arr: Array = unsafe { v.cast() }.map_err(napi)?;
                let mut out = Vec::with_capacity(arr.len() as usize);
                for i in 0..arr.len() {
                    let x: Unknown = arr.get(i).map_err(napi)?.ok_or_else(|| bad("a hole"))?;
                    out.push(read(&format!("{field}[{i}]"), &x, depth + 1)?);
                }
                Value::List(out)
            } else {
                let obj: Object = unsafe { v.cast() }.map_err(napi)?;
                let keys = Object::keys(&obj).map_err(napi)?;
                let mut out = Vec::with_capacity(keys.len());
                for k in keys {
                    let x: Option<Unknown> = obj.get(&k).map_err(napi)?;
                    let f = format!("{field}.{k}");
                    let x = match x {
                        Some(x) => read(&f, &x, depth + 1)?,
                        None => Value::Null,
                    };
                    out.push((k, x));
                }
                Value::Map(out)
            }
        }
        other => return Err(bad(&format!("{other:?}").to_lowercase())),
    })
}

/// An optional argument as a [`Value`] (absent: null).
pub(crate) fn opt(field: &str, v: Option<Unknown<'_>>) -> Result<Value> {
    match v {
        None => Ok(Value::Null),
        Some(v) => value(field, &v),
    }
}

/// An integer argument (`k`, `ef`, `threads`): exactly the number given, or an error naming
/// it.
pub(crate) fn int(field: &str, v: &Unknown<'_>) -> Result<usize> {
    embedrec_host::to_usize(field, &value(field, v)?)
}

fn type_name(v: &Unknown<'_>) -> String {
    match v.get_type() {
        Ok(t) => format!("{t:?}").to_lowercase(),
        Err(_) => "an unreadable value".into(),
    }
}

/// A JavaScript string as UTF-8. A lone surrogate is an error: napi would turn it into
/// U+FFFD, so that two different ids became one. Only strings that hold U+FFFD after the
/// conversion are read again as UTF-16 to tell the two apart.
pub(crate) fn string(field: &str, v: &Unknown<'_>) -> Result<String> {
    if v.get_type().map_err(napi)? != ValueType::String {
        return Err(Error::invalid(field, "a string", type_name(v)));
    }
    // SAFETY (both casts): the value is a string.
    let s: String = unsafe { v.cast() }.map_err(napi)?;
    if s.contains('\u{FFFD}') {
        let units: napi::bindgen_prelude::Utf16String = unsafe { v.cast() }.map_err(napi)?;
        if char::decode_utf16(units.iter().copied()).any(|c| c.is_err()) {
            return Err(Error::invalid(
                field,
                "a string of valid Unicode",
                "a string with a lone surrogate",
            ));
        }
    }
    Ok(s)
}

/// One id: a string (checked by [`string`]), a number that is a safe integer, or a BigInt
/// within the 64-bit signed range (stored in the core's integer form).
pub(crate) fn id(field: &str, v: &Unknown<'_>) -> Result<String> {
    match v.get_type().map_err(napi)? {
        ValueType::String => embedrec_host::str_id(field, string(field, v)?),
        // SAFETY (both casts): the type was just checked.
        ValueType::Number => {
            embedrec_host::id(field, Value::Num(unsafe { v.cast() }.map_err(napi)?))
        }
        ValueType::BigInt => {
            let b: napi::bindgen_prelude::BigInt = unsafe { v.cast() }.map_err(napi)?;
            let (i, lossless) = b.get_i128();
            if !lossless {
                return Err(Error::invalid(
                    field,
                    "an integer id within the 64-bit signed range",
                    "a larger BigInt",
                ));
            }
            embedrec_host::integer_id(field, i)
        }
        _ => Err(Error::invalid(
            field,
            "a string or an integer id",
            type_name(v),
        )),
    }
}

/// An array of ids, each read by [`id`].
pub(crate) fn ids(field: &str, v: &Unknown<'_>) -> Result<Vec<String>> {
    each_id(field, v)?.collect()
}

/// A long column of ids (an interaction log's users or items), accepted as [`ids`] accepts
/// them and dictionary-encoded: each distinct id is stored once.
pub(crate) fn column(field: &str, v: &Unknown<'_>) -> Result<embedrec::IdColumn> {
    embedrec::IdColumn::try_from_keys(each_id(field, v)?, String::clone)
}

/// The ids of an array, one by one; an element's name is formatted only for an error.
fn each_id<'a>(
    field: &'a str,
    v: &Unknown<'_>,
) -> Result<impl Iterator<Item = Result<String>> + 'a> {
    let mut is_array = false;
    // SAFETY: a plain N-API query on a live value of this call.
    unsafe { napi::sys::napi_is_array(v.value().env, v.raw(), &mut is_array) };
    if !is_array {
        return Err(Error::invalid(
            field,
            "an array of ids (strings or integers)",
            type_name(v),
        ));
    }
    // SAFETY: the value is an array.
    let arr: Array = unsafe { v.cast() }.map_err(napi)?;
    Ok((0..arr.len()).map(move |i| {
        let x: Unknown = arr
            .get(i)
            .map_err(napi)?
            .ok_or_else(|| Error::invalid(format!("{field}[{i}]"), "an id", "a hole"))?;
        id(field, &x).or_else(|_| id(&format!("{field}[{i}]"), &x))
    }))
}

/// A stored id as JavaScript gets it back: a string, a number for an integer id within the
/// safe range, a BigInt beyond it.
pub(crate) type JsId = napi::bindgen_prelude::Either3<String, f64, napi::bindgen_prelude::BigInt>;

pub(crate) fn js_id(stored: &str) -> JsId {
    use napi::bindgen_prelude::Either3;
    match embedrec_host::host_id(stored) {
        embedrec_host::HostId::Str(s) => Either3::A(s.to_string()),
        embedrec_host::HostId::Int(i) if i.abs() <= embedrec_host::MAX_SAFE_INTEGER => {
            Either3::B(i as f64)
        }
        embedrec_host::HostId::Int(i) => Either3::C(napi::bindgen_prelude::BigInt::from(i)),
    }
}

/// Numbers from an array or a typed array (Float32Array, Float64Array), each a JavaScript
/// number.
pub(crate) fn numbers(field: &str, v: &Unknown<'_>) -> Result<Vec<f64>> {
    use napi::bindgen_prelude::{Float32Array, Float64Array};
    let mut is_typed = false;
    // SAFETY: a plain N-API query on a live value of this call.
    unsafe { napi::sys::napi_is_typedarray(v.value().env, v.raw(), &mut is_typed) };
    if is_typed {
        // SAFETY: the value is a typed array; a cast to the wrong kind is an error.
        if let Ok(a) = unsafe { v.cast::<Float32Array>() } {
            return Ok(a.iter().map(|&x| x as f64).collect());
        }
        if let Ok(a) = unsafe { v.cast::<Float64Array>() } {
            return Ok(a.to_vec());
        }
        return Err(Error::invalid(
            field,
            "numbers (an array, Float32Array or Float64Array)",
            "another typed array",
        ));
    }
    match value(field, v)? {
        Value::List(xs) => xs
            .iter()
            .enumerate()
            .map(|(i, x)| embedrec_host::to_f64(&format!("{field}[{i}]"), x))
            .collect(),
        other => Err(Error::invalid(
            field,
            "numbers (an array, Float32Array or Float64Array)",
            other.describe(),
        )),
    }
}
