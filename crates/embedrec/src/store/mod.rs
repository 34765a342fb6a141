//! Storage of what the engine knows: item ids mapped to dense slots, vector rows, tags and
//! numeric attributes (the catalog), user histories, and the filters evaluated over them.
//! Each type reads and writes its own part of a saved file.

pub(crate) mod catalog;
pub(crate) mod filter;
pub(crate) mod history;
pub(crate) mod id_column;
pub(crate) mod ids;
pub(crate) mod rows;
pub(crate) mod tags;
pub(crate) mod users;

pub use catalog::{AttrUpdate, Catalog, ItemAttrs};
pub(crate) use catalog::{CatalogMeta, PreparedItem};
pub use filter::{Filter, NumericRange};
pub(crate) use history::{History, Interaction};
pub use id_column::IdColumn;
pub use ids::MAX_ID_BYTES;
pub use rows::VectorStorage;
pub use users::MAX_WEIGHT;
pub(crate) use users::{Users, UsersMeta};
