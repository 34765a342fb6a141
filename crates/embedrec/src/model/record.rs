//! The MODEL section of a version-2 file: the installed model as explicit little-endian
//! records (docs/format.md), so that the file does not depend on how Rust lays out the model
//! types. Arrays are a u64 count then the values; the load checks everything against the
//! catalog afterwards ([`Model::check`]).

use super::{AlsModel, EaseModel, KnnModel, Model};
use crate::codec::bytes::{Reader, Writer};
use crate::model::{AlsParams, Confidence, EaseParams, KnnParams, KnnWeighting};

/// Magic of a version-2 MODEL section.
const MAGIC: &[u8; 4] = b"MOD2";

type R<T> = std::result::Result<T, String>;

impl Model {
    /// Writes the MODEL record: magic, kind (u32: 0 ALS, 1 item-kNN, 2 EASE, 3 popularity),
    /// then the model's parameters and arrays; spilled to `out` as it grows.
    pub(crate) fn write_record(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut w = Writer::default();
        w.0.extend_from_slice(MAGIC);
        match self {
            Model::Als(m) => {
                w.u32(0);
                let p = &m.params;
                w.u64(p.factors as u64);
                w.u64(p.iterations as u64);
                w.f32s(&[p.regularization, p.alpha]);
                w.u32(match p.confidence {
                    Confidence::Linear => 0,
                    Confidence::Log => 1,
                });
                w.u64(p.cg_steps as u64);
                w.u64(p.seed);
                w.f32_array(&m.item_factors);
                w.u64(m.trained.len() as u64);
                w.0.extend(m.trained.iter().map(|&t| t as u8));
                w.f32_array(&m.yty);
                match &m.cold_map {
                    None => w.u8(0),
                    Some(c) => {
                        w.u8(1);
                        w.f32_array(c);
                    }
                }
                w.f32_array(&m.user_factors);
            }
            Model::Knn(m) => {
                w.u32(1);
                w.u64(m.params.neighbours as u64);
                match m.params.weighting {
                    KnnWeighting::Cosine => w.u32(0),
                    KnnWeighting::Bm25 { k1, b } => {
                        w.u32(1);
                        w.f32s(&[k1, b]);
                    }
                }
                w.u64(m.neighbours.len() as u64);
                for list in &m.neighbours {
                    w.len(list.len());
                    for &(s, sim) in list {
                        w.u32(s);
                        w.f32s(&[sim]);
                    }
                    w.spill(out)?;
                }
            }
            Model::Ease(m) => {
                w.u32(2);
                w.f32s(&[m.params.regularization]);
                w.u32_array(&m.items);
                w.u32_array(&m.row_of);
                w.f32_array(&m.b);
            }
            Model::Popularity { scores } => {
                w.u32(3);
                w.f32_array(scores);
            }
        }
        out.write_all(&w.0)
    }

    /// Reads a record [`Model::write_record`] wrote (consumed exactly; the caller checks the
    /// model against the catalog).
    pub(crate) fn read_record(bytes: &[u8]) -> R<Model> {
        if bytes.get(..4) != Some(&MAGIC[..]) {
            return Err("bad model magic".into());
        }
        let mut r = Reader::new(&bytes[4..]);
        let model = match r.u32()? {
            0 => {
                let factors = r.usize_at_most(u32::MAX as u64, "factors")?;
                let iterations = r.usize_at_most(u32::MAX as u64, "iterations")?;
                let (regularization, alpha) = {
                    let v = r.f32s(2)?;
                    (v[0], v[1])
                };
                let confidence = match r.u32()? {
                    0 => Confidence::Linear,
                    1 => Confidence::Log,
                    x => return Err(format!("unknown confidence {x}")),
                };
                let cg_steps = r.usize_at_most(u32::MAX as u64, "cg_steps")?;
                let seed = r.u64()?;
                let item_factors = f32_array(&mut r)?;
                let n = r.len64(1)?;
                let trained = r
                    .u8s(n)?
                    .iter()
                    .map(|&b| match b {
                        0 => Ok(false),
                        1 => Ok(true),
                        x => Err(format!("trained flag {x}")),
                    })
                    .collect::<R<Vec<bool>>>()?;
                let yty = f32_array(&mut r)?;
                let cold_map = match r.u8()? {
                    0 => None,
                    1 => Some(f32_array(&mut r)?),
                    x => return Err(format!("cold map flag {x}")),
                };
                let user_factors = f32_array(&mut r)?;
                Model::Als(AlsModel {
                    params: AlsParams {
                        factors,
                        iterations,
                        regularization,
                        alpha,
                        confidence,
                        cg_steps,
                        seed,
                    },
                    item_factors,
                    trained,
                    yty,
                    cold_map,
                    user_factors,
                    xtx: None,
                })
            }
            1 => {
                let neighbours = r.usize_at_most(u32::MAX as u64, "neighbours")?;
                let weighting = match r.u32()? {
                    0 => KnnWeighting::Cosine,
                    1 => {
                        let v = r.f32s(2)?;
                        KnnWeighting::Bm25 { k1: v[0], b: v[1] }
                    }
                    x => return Err(format!("unknown weighting {x}")),
                };
                let n = r.len64(4)?;
                let mut lists = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = r.len(8)?;
                    let slots = r.u32s(k * 2)?;
                    lists.push(
                        slots
                            .chunks_exact(2)
                            .map(|p| (p[0], f32::from_bits(p[1])))
                            .collect(),
                    );
                }
                Model::Knn(KnnModel {
                    params: KnnParams {
                        neighbours,
                        weighting,
                    },
                    neighbours: lists,
                })
            }
            2 => {
                let regularization = r.f32s(1)?[0];
                let items = u32_array(&mut r)?;
                let row_of = u32_array(&mut r)?;
                let b = f32_array(&mut r)?;
                Model::Ease(EaseModel {
                    params: EaseParams { regularization },
                    items,
                    row_of,
                    b,
                })
            }
            3 => Model::Popularity {
                scores: f32_array(&mut r)?,
            },
            x => return Err(format!("unknown model kind {x}")),
        };
        r.finish()?;
        Ok(model)
    }
}

fn f32_array(r: &mut Reader<'_>) -> R<Vec<f32>> {
    let n = r.len64(4)?;
    r.f32s(n)
}

fn u32_array(r: &mut Reader<'_>) -> R<Vec<u32>> {
    let n = r.len64(4)?;
    r.u32s(n)
}
