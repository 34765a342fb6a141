//! Host values as the shared layer reads them, and the readers of options and numbers.

use embedrec::{Error, Result};

/// A value from the host: what a Python object or a JavaScript value is, for the purpose of
/// reading options. Integers from Python stay exact ([`Value::Int`]); every JavaScript
/// number is a [`Value::Num`].
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`, `null` or `undefined`: the same as absent.
    Null,
    /// A boolean.
    Bool(bool),
    /// An exact integer (Python `int`, `numpy` integers, JavaScript `BigInt`).
    Int(i128),
    /// A floating-point number (Python `float`, every JavaScript number).
    Num(f64),
    /// A string.
    Str(String),
    /// A sequence.
    List(Vec<Value>),
    /// A mapping with string keys, in the host's order.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// What this value is, for error messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Num(x) => x.to_string(),
            Value::Str(s) => format!("{s:?}"),
            Value::List(l) => format!("a list of {}", l.len()),
            Value::Map(_) => "an object".into(),
        }
    }
}

/// How a host spells keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `ef_search` (Python).
    Snake,
    /// `efSearch` (Node).
    Camel,
}

impl Style {
    /// `key` (given in snake_case) as this host spells it.
    pub fn key(self, key: &str) -> String {
        match self {
            Style::Snake => key.to_string(),
            Style::Camel => {
                let mut out = String::with_capacity(key.len());
                let mut upper = false;
                for c in key.chars() {
                    if c == '_' {
                        upper = true;
                    } else if upper {
                        out.extend(c.to_uppercase());
                        upper = false;
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

/// `v` as a non-negative integer that fits a `usize`, exactly: never wrapped, truncated or
/// rounded. `field` names the argument in the error.
pub fn to_usize(field: &str, v: &Value) -> Result<usize> {
    let bad = || Error::invalid(field, "a non-negative integer", v.describe());
    match *v {
        Value::Int(i) => usize::try_from(i).map_err(|_| bad()),
        // Integers up to 2^53 are exact in a double; beyond, a number is not trusted.
        Value::Num(x) if x.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&x) => {
            Ok(x as usize)
        }
        _ => Err(bad()),
    }
}

/// `v` as an `i64` integer, exactly (timestamps).
pub fn to_i64(field: &str, v: &Value) -> Result<i64> {
    let bad = || Error::invalid(field, "an integer", v.describe());
    match *v {
        Value::Int(i) => i64::try_from(i).map_err(|_| bad()),
        Value::Num(x)
            if x.fract() == 0.0
                && (-9_007_199_254_740_992.0..=9_007_199_254_740_992.0).contains(&x) =>
        {
            Ok(x as i64)
        }
        _ => Err(bad()),
    }
}

/// `v` as a number (an integer or a float; NaN passes, for the core to judge).
pub fn to_f64(field: &str, v: &Value) -> Result<f64> {
    match *v {
        Value::Int(i) => Ok(i as f64),
        Value::Num(x) => Ok(x),
        _ => Err(Error::invalid(field, "a number", v.describe())),
    }
}

/// Reads the keys of one options object (or one set of keyword arguments) by name, in the
/// host's [`Style`]; [`Options::finish`] rejects any key that was not read.
#[derive(Debug)]
pub struct Options {
    what: String,
    style: Style,
    entries: Vec<(String, Value)>,
    used: Vec<bool>,
}

impl Options {
    /// The options in `v` (a mapping, or null for none). `what` names the object in errors
    /// (`"options"`, `"filter"`; empty for keyword arguments, which are named alone).
    pub fn new(what: &str, style: Style, v: Value) -> Result<Self> {
        let entries = match v {
            Value::Null => Vec::new(),
            Value::Map(m) => m,
            other => {
                return Err(Error::invalid(
                    what,
                    "an object of named options",
                    other.describe(),
                ));
            }
        };
        let used = vec![false; entries.len()];
        Ok(Options {
            what: what.to_string(),
            style,
            entries,
            used,
        })
    }

    /// The style keys are read in.
    pub fn style(&self) -> Style {
        self.style
    }

    /// How errors name `key`: `what.key` in the host's spelling.
    pub fn field(&self, key: &str) -> String {
        let k = self.style.key(key);
        if self.what.is_empty() {
            k
        } else {
            format!("{}.{k}", self.what)
        }
    }

    /// True when `key` (snake_case) is given and not null.
    pub fn has(&self, key: &str) -> bool {
        let k = self.style.key(key);
        self.entries
            .iter()
            .any(|(n, v)| *n == k && !matches!(v, Value::Null))
    }

    /// The value of `key` (snake_case), unless absent or null.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        let k = self.style.key(key);
        let i = self.entries.iter().position(|(n, _)| *n == k)?;
        self.used[i] = true;
        match &self.entries[i].1 {
            Value::Null => None,
            v => Some(v.clone()),
        }
    }

    /// A non-negative integer option.
    pub fn usize(&mut self, key: &str) -> Result<Option<usize>> {
        let f = self.field(key);
        self.take(key).map(|v| to_usize(&f, &v)).transpose()
    }

    /// A number option.
    pub fn f64(&mut self, key: &str) -> Result<Option<f64>> {
        let f = self.field(key);
        self.take(key).map(|v| to_f64(&f, &v)).transpose()
    }

    /// A boolean option.
    pub fn bool(&mut self, key: &str) -> Result<Option<bool>> {
        let f = self.field(key);
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(v) => Err(Error::invalid(f, "true or false", v.describe())),
        }
    }

    /// A string option.
    pub fn string(&mut self, key: &str) -> Result<Option<String>> {
        let f = self.field(key);
        match self.take(key) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(v) => Err(Error::invalid(f, "a string", v.describe())),
        }
    }

    /// A list-of-ids option (strings or integers, see [`crate::ids`]).
    pub fn ids(&mut self, key: &str) -> Result<Option<Vec<String>>> {
        let f = self.field(key);
        match self.take(key) {
            None => Ok(None),
            Some(v) => crate::ids::ids(&f, v).map(Some),
        }
    }

    /// A list-of-strings option.
    pub fn strings(&mut self, key: &str) -> Result<Option<Vec<String>>> {
        let f = self.field(key);
        match self.take(key) {
            None => Ok(None),
            Some(v) => strings(&f, v).map(Some),
        }
    }

    /// Fails when a key was given that no reader asked for (a misspelt option would
    /// otherwise be ignored silently), naming the keys this object takes.
    pub fn finish(self, known: &[&str]) -> Result<()> {
        for (i, (k, _)) in self.entries.iter().enumerate() {
            if !self.used[i] {
                let names: Vec<String> = known.iter().map(|n| self.style.key(n)).collect();
                let what = if self.what.is_empty() {
                    "argument"
                } else {
                    &self.what
                };
                return Err(Error::invalid(
                    what,
                    format!("only the keys {}", names.join(", ")),
                    format!("unknown key {k:?}"),
                ));
            }
        }
        Ok(())
    }
}

/// `v` as a list of strings.
pub(crate) fn strings(field: &str, v: Value) -> Result<Vec<String>> {
    let bad = |got: String| Error::invalid(field, "a list of strings", got);
    match v {
        Value::List(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, x)| match x {
                Value::Str(s) => Ok(s),
                other => Err(Error::invalid(
                    format!("{field}[{i}]"),
                    "a string",
                    other.describe(),
                )),
            })
            .collect(),
        other => Err(bad(other.describe())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_exact_or_refused() {
        assert_eq!(to_usize("k", &Value::Num(3.0)).unwrap(), 3);
        assert_eq!(to_usize("k", &Value::Int(7)).unwrap(), 7);
        for bad in [
            Value::Num(4_294_967_299.5),
            Value::Num(-1.0),
            Value::Num(1.5),
            Value::Num(f64::NAN),
            Value::Num(1e300),
            Value::Int(-3),
            Value::Int(1 << 100),
            Value::Str("3".into()),
        ] {
            let e = to_usize("k", &bad).unwrap_err();
            assert_eq!(e.code(), "INVALID_INPUT");
            assert!(e.to_string().contains('k'), "{e}");
        }
        // 2^32 + 3 stays itself: the core then rejects it as out of range, never as 3.
        assert_eq!(
            to_usize("k", &Value::Num(4_294_967_299.0)).unwrap(),
            4_294_967_299
        );
    }

    #[test]
    fn unknown_keys_are_errors_in_the_hosts_spelling() {
        let mut o = Options::new(
            "filter",
            Style::Camel,
            Value::Map(vec![("tagAny".into(), Value::List(vec![]))]),
        )
        .unwrap();
        assert!(o.strings("tags_any").unwrap().is_none());
        let e = o.finish(&["tags_any"]).unwrap_err().to_string();
        assert!(e.contains("tagAny") && e.contains("tagsAny"), "{e}");
        assert_eq!(
            Style::Camel.key("exact_filter_fraction"),
            "exactFilterFraction"
        );
    }
}
