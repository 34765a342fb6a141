//! The file codec: the container of checksummed sections, reading sections from bytes or a
//! file at offsets, and atomic replacement of a file. It knows nothing of the engine; each
//! type that is saved encodes and decodes its own section content.

mod atomic;
mod container;
mod source;

pub(crate) use atomic::write_atomic;
pub use container::{FORMAT_VERSION, MAGIC};
pub(crate) use container::{read, write};
pub(crate) use source::{FileSource, SectionReader, Source};
