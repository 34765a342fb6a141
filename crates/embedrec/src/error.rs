//! The one error type of the crate.

use std::path::PathBuf;

/// Marks an id that a host gave as an integer: such ids are stored as this character
/// followed by the integer's decimal digits (see [`int_id`]), so that `42` and `"42"` are
/// different ids and an integer comes back as an integer.
pub const INT_ID_MARK: char = '\0';

/// The stored form of the integer id `i` (Python `int`, JavaScript number or BigInt).
pub fn int_id(i: i64) -> String {
    format!("{INT_ID_MARK}{i}")
}

/// The integer an id stands for, when it was given as an integer ([`int_id`]).
pub fn parse_int_id(id: &str) -> Option<i64> {
    id.strip_prefix(INT_ID_MARK)?.parse().ok()
}

/// An id as messages show it: an integer id as its digits, any other quoted.
pub struct ShowId<'a>(pub &'a str);

impl std::fmt::Display for ShowId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match parse_int_id(self.0) {
            Some(i) => write!(f, "{i}"),
            None => write!(f, "{:?}", self.0),
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the engine reports. Messages name the offending id, field and value, and
/// what was expected, so they can be shown to a developer as they are.
///
/// The enum is `#[non_exhaustive]`: bindings map each variant to a host error class and keep
/// a fallback arm for variants added later.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument has the wrong value or shape.
    #[error("invalid {field}: expected {expected}, got {got}")]
    InvalidInput {
        /// Which argument or field (e.g. `vectors[3][7]`, `k`, `config.m`).
        field: String,
        /// What would have been accepted.
        expected: String,
        /// What was given.
        got: String,
    },
    /// A vector has the wrong number of components.
    #[error("dimension mismatch in {field}: expected {expected} components, got {got}")]
    DimensionMismatch {
        /// Which argument (e.g. `vectors[2]`, `query`).
        field: String,
        /// The engine's dimension.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// An item id is not in the catalog.
    #[error("unknown item id {} in {field}", ShowId(id))]
    UnknownItem {
        /// The id as given.
        id: String,
        /// Which argument held it.
        field: String,
    },
    /// A user id has no stored interactions.
    #[error(
        "unknown user id {}: the engine has no interactions for this user (use recommend_for_items for anonymous sessions)",
        ShowId(id)
    )]
    UnknownUser {
        /// The id as given.
        id: String,
    },
    /// A filter names a numeric attribute that no item has ever carried.
    #[error("unknown attribute {name:?} in {field}: known attributes are {known:?}")]
    UnknownAttribute {
        /// The attribute name as given.
        name: String,
        /// Which argument held it.
        field: String,
        /// The attribute names the catalog knows.
        known: Vec<String>,
    },
    /// A limit of the engine would be exceeded.
    #[error("capacity exceeded for {what}: limit is {limit}, got {got}")]
    CapacityExceeded {
        /// What is limited.
        what: String,
        /// The limit.
        limit: u64,
        /// The requested amount.
        got: u64,
    },
    /// A file is damaged, truncated, or not an embedrec file.
    #[error("corrupt file {path:?}: section {section}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Which part of the file (`header`, `section table`, `meta`, `item_vectors`, ...).
        section: String,
        /// What is wrong.
        reason: String,
    },
    /// A file was written by a format version this build cannot read.
    #[error(
        "unsupported file format version {found} in {path:?}: this build reads version {supported}"
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Version found in the header.
        found: u16,
        /// Version this build reads and writes.
        supported: u16,
    },
    /// An I/O operation failed.
    #[error("I/O error during {op} on {path:?}: {source}")]
    Io {
        /// What was being done (`save`, `load`, `rename`, ...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A write was refused: the engine was opened read-only.
    #[error(
        "read-only engine (opened read-only from {path:?}): {op} refused; open it without read_only to write"
    )]
    ReadOnly {
        /// The refused operation.
        op: &'static str,
        /// The file the engine was opened from.
        path: PathBuf,
    },
    /// Work stopped because the caller asked (a progress callback returned `false`).
    #[error("cancelled: {what}")]
    Cancelled {
        /// What was cancelled.
        what: String,
    },
    /// A bug inside the engine (for example a caught panic). Please report it.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A stable, machine-readable name of the error kind, used as the Node `code` and for
    /// mapping to Python exception classes.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "INVALID_INPUT",
            Error::DimensionMismatch { .. } => "DIMENSION_MISMATCH",
            Error::UnknownItem { .. } => "UNKNOWN_ITEM",
            Error::UnknownUser { .. } => "UNKNOWN_USER",
            Error::UnknownAttribute { .. } => "UNKNOWN_ATTRIBUTE",
            Error::CapacityExceeded { .. } => "CAPACITY_EXCEEDED",
            Error::Corrupt { .. } => "CORRUPT",
            Error::UnsupportedVersion { .. } => "UNSUPPORTED_VERSION",
            Error::Io { .. } => "IO",
            Error::ReadOnly { .. } => "READ_ONLY",
            Error::Cancelled { .. } => "CANCELLED",
            Error::Internal(_) => "INTERNAL",
        }
    }

    /// [`Error::InvalidInput`]: `field` was `got`, `expected` was expected.
    pub fn invalid(
        field: impl Into<String>,
        expected: impl Into<String>,
        got: impl std::fmt::Display,
    ) -> Self {
        Error::InvalidInput {
            field: field.into(),
            expected: expected.into(),
            got: got.to_string(),
        }
    }

    /// Turns a caught panic payload into [`Error::Internal`]. Bindings call this from their
    /// boundary helper; it is public so that all of them format panics the same way.
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        let msg = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "unknown panic payload".to_string()
        };
        Error::Internal(format!("panic inside embedrec: {msg}"))
    }
}
