//! The file codec: the container of checksummed, page-aligned sections (written as streams),
//! reading sections from bytes, a file at offsets or a mapping, atomic replacement of a file,
//! and the write-ahead journal's framing. It knows nothing of the engine; each type that is
//! saved encodes and decodes its own section content.

mod atomic;
pub(crate) mod bytes;
mod container;
pub(crate) mod journal;
mod source;

pub(crate) use atomic::{process_runs, write_atomic, write_atomic_with};
pub(crate) use container::{ContainerWriter, read};
pub use container::{FORMAT_VERSION, MAGIC};
pub use journal::{DEFAULT_SYNC_INTERVAL_MS, SyncMode};
pub(crate) use journal::{Journal, PendingSync};
pub(crate) use source::{FileSource, MappedSource, SectionReader, Source, open_regular};
