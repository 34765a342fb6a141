//! The trained model's part of a file: the MODEL section (read in place from a mapped
//! version-2 file, so that the ALS factor arrays are views; otherwise read whole and
//! checked) and the FACTOR_IP / FACTOR_COSINE sections (the graphs over the factors).

use super::{META_LIMIT, decode_v1};
use crate::codec::SectionReader;
use crate::engine::{EngineConfig, FactorIndex, factor_params};
use crate::model::Model;
use crate::store::Catalog;
use crate::util::mapped::Mapping;
use crate::{Error, Result};
use std::path::Path;
use std::sync::Arc;

fn corrupt(path: &Path, section: &str, reason: String) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        section: section.to_string(),
        reason,
    }
}

/// The MODEL section's bytes: read whole (and checksummed), or in place in the mapping
/// (offset, length; its checksum left to `verify`, as for ROWS).
pub(super) enum ModelPart {
    Bytes(Vec<u8>),
    Mapped(Arc<Mapping>, usize, usize),
}

impl ModelPart {
    /// Takes the section: in place when it is a version-2 section of a mapped file.
    pub(super) fn read(mut r: SectionReader<'_>, v2: bool, path: &Path) -> Result<Self> {
        let bad = |e: String| corrupt(path, "model", e);
        let n = usize::try_from(r.remaining()).map_err(|e| bad(e.to_string()))?;
        let view = if v2 {
            r.view_bytes(n).map_err(bad)?
        } else {
            None
        };
        Ok(match view {
            Some((map, at)) => {
                r.finish().map_err(bad)?;
                ModelPart::Mapped(map, at, n)
            }
            None => ModelPart::Bytes(r.into_bytes(META_LIMIT as u64).map_err(bad)?),
        })
    }

    /// Decodes the model (version 2: explicit records; 1: bincode) and checks it against
    /// the catalog.
    pub(super) fn decode(self, v2: bool, cat: &Catalog, path: &Path) -> Result<Model> {
        let bad = |e: String| corrupt(path, "model", e);
        let model = match &self {
            ModelPart::Mapped(map, at, n) => {
                Model::read_record(&map.bytes()[*at..*at + *n], Some((map, *at)))
                    .map_err(|e| bad(format!("cannot decode: {e}")))?
            }
            ModelPart::Bytes(b) if v2 => {
                Model::read_record(b, None).map_err(|e| bad(format!("cannot decode: {e}")))?
            }
            ModelPart::Bytes(b) => decode_v1(b).map_err(bad)?,
        };
        model.check(cat.slots(), cat.dim()).map_err(bad)?;
        Ok(model)
    }
}

/// The stored graphs over the model's factors (`None` when the file has none: the engine
/// builds them). The cosine section is required with the inner-product one and needs a
/// model. `Err` names the damaged section.
pub(super) fn read_factors(
    model: Option<&Model>,
    cat: &Catalog,
    config: &EngineConfig,
    (ip, cosine): (Option<SectionReader<'_>>, Option<SectionReader<'_>>),
) -> std::result::Result<Option<FactorIndex>, (&'static str, String)> {
    let (model, mut cosine) = match (model, cosine) {
        (_, None) if ip.is_none() => return Ok(None),
        (Some(m), Some(c)) => (m, c),
        (None, _) => return Err(("factor_cosine", "present without a model".into())),
        (Some(_), None) => return Err(("factor_cosine", "section missing".into())),
    };
    let mut ip = ip;
    let fx = FactorIndex::read(
        (ip.as_mut(), &mut cosine),
        model,
        cat,
        factor_params(config),
    )?;
    if let Some(mut r) = ip {
        r.finish().map_err(|e| ("factor_ip", e))?;
    }
    cosine.finish().map_err(|e| ("factor_cosine", e))?;
    Ok(Some(fx))
}
