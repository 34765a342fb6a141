//! Ids as hosts give them: strings, or integers (Python `int` and numpy integers,
//! JavaScript numbers and BigInt). An integer is stored in the core's integer form
//! ([`embedrec::int_id`]), so `42` and `"42"` stay different ids and an integer comes back
//! as an integer ([`HostId`]). A string may not start with the integer mark (U+0000).

use crate::value::Value;
use embedrec::{Error, INT_ID_MARK, Result, int_id, parse_int_id};

/// Largest integer a JavaScript number holds exactly (2^53 − 1).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A string id, refused when it starts with the integer mark.
pub fn str_id(field: &str, s: String) -> Result<String> {
    if s.starts_with(INT_ID_MARK) {
        return Err(Error::invalid(
            field,
            "an id that does not start with U+0000 (reserved for integer ids)",
            format!("{s:?}"),
        ));
    }
    Ok(s)
}

/// An integer id, which must fit an `i64`.
pub fn integer_id(field: &str, i: i128) -> Result<String> {
    i64::try_from(i)
        .map(int_id)
        .map_err(|_| Error::invalid(field, "an integer id within the 64-bit signed range", i))
}

/// An id from a host value: a string, an exact integer, or a float that is a whole number
/// a double holds exactly (every JavaScript number).
pub fn id(field: &str, v: Value) -> Result<String> {
    match v {
        Value::Str(s) => str_id(field, s),
        Value::Int(i) => integer_id(field, i),
        Value::Num(x) if x.fract() == 0.0 && x.abs() <= MAX_SAFE_INTEGER as f64 => {
            Ok(int_id(x as i64))
        }
        other => Err(Error::invalid(
            field,
            "a string or an integer id",
            other.describe(),
        )),
    }
}

/// A list of ids (see [`id`]).
pub fn ids(field: &str, v: Value) -> Result<Vec<String>> {
    match v {
        Value::List(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, x)| id(&format!("{field}[{i}]"), x))
            .collect(),
        other => Err(Error::invalid(field, "a list of ids", other.describe())),
    }
}

/// A stored id as the host gets it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostId<'a> {
    /// Given as a string.
    Str(&'a str),
    /// Given as an integer.
    Int(i64),
}

/// How a stored id goes back to the host.
pub fn host_id(stored: &str) -> HostId<'_> {
    match parse_int_id(stored) {
        Some(i) => HostId::Int(i),
        None => HostId::Str(stored),
    }
}

/// A stored id as JSON: a number for an integer id, else a string.
pub fn json_id(stored: &str) -> serde_json::Value {
    match host_id(stored) {
        HostId::Int(i) => serde_json::Value::from(i),
        HostId::Str(s) => serde_json::Value::from(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_strings_stay_apart_and_round_trip() {
        let a = id("id", Value::Int(42)).unwrap();
        let b = id("id", Value::Num(42.0)).unwrap();
        let c = id("id", Value::Str("42".into())).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(host_id(&a), HostId::Int(42));
        assert_eq!(host_id(&c), HostId::Str("42"));
        assert_eq!(host_id(&int_id(-7)), HostId::Int(-7));
        assert!(
            id("ids[3]", Value::Num(1.5))
                .unwrap_err()
                .to_string()
                .contains("ids[3]")
        );
        assert!(id("id", Value::Num(1e300)).is_err());
        assert!(id("id", Value::Int(i128::from(i64::MAX) + 1)).is_err());
        assert!(
            id("id", Value::Str("\0x".into()))
                .unwrap_err()
                .to_string()
                .contains("U+0000")
        );
        assert!(id("id", Value::Bool(true)).is_err());
        let msg = embedrec::Error::UnknownItem {
            id: a,
            field: "id".into(),
        }
        .to_string();
        assert_eq!(msg, "unknown item id 42 in id");
    }
}
