//! The MODEL section of a version-2 file: the installed model as explicit little-endian
//! records (docs/format.md), so that the file does not depend on how Rust lays out the model
//! types. Arrays are a u64 count then the values; the load checks everything against the
//! catalog afterwards ([`Model::check`]). In a `MOD3` record the ALS item and user factors
//! start on 64-byte boundaries, so that a read-only engine uses them in place; `MOD2`
//! records (without that padding) still load.

use super::{AlsModel, EaseModel, KnnModel, Model};
use crate::codec::bytes::{Reader, Writer};
use crate::model::{AlsParams, Confidence, EaseParams, KnnParams, KnnWeighting};
use crate::util::mapped::{Buf, Mapping};
use std::sync::Arc;

/// Magic of the MODEL record written now (factor arrays aligned).
const MAGIC: &[u8; 4] = b"MOD3";
/// Magic of the earlier MODEL record (no alignment padding).
const MAGIC_V2: &[u8; 4] = b"MOD2";
/// Alignment of the ALS factor arrays in a `MOD3` record.
const ALIGN: usize = 64;

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
                w.u64(m.item_factors.len() as u64);
                w.pad(ALIGN);
                w.f32s(&m.item_factors);
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
                w.u64(m.user_factors.len() as u64);
                w.pad(ALIGN);
                w.f32s(&m.user_factors);
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
    /// model against the catalog). With `mapped` (the mapping `bytes` lie in, and their
    /// offset there), the ALS factor arrays of a `MOD3` record are views of it.
    pub(crate) fn read_record(bytes: &[u8], mapped: Option<(&Arc<Mapping>, usize)>) -> R<Model> {
        let aligned = match bytes.get(..4) {
            Some(m) if m == MAGIC => true,
            Some(m) if m == MAGIC_V2 => false,
            _ => return Err("bad model magic".into()),
        };
        let mut r = Reader::new(bytes);
        r.u32()?;
        // A factor array: its count, then (MOD3) padding, then the values, viewed in the
        // mapping when there is one.
        let factor_array = |r: &mut Reader<'_>| -> R<Buf<f32>> {
            let n = r.len64(4)?;
            if !aligned {
                return r.f32s(n).map(Buf::from);
            }
            r.padding(ALIGN)?;
            let at = r.position();
            match mapped {
                Some((map, base)) if cfg!(target_endian = "little") => {
                    r.u8s(n * 4)?;
                    Buf::view(map, base + at, n).ok_or_else(|| "factors not viewable".into())
                }
                _ => r.f32s(n).map(Buf::from),
            }
        };
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
                let item_factors = factor_array(&mut r)?;
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
                let user_factors = factor_array(&mut r)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn als() -> Model {
        let f = 8;
        let y: Vec<f32> = (0..13 * f).map(|i| i as f32 * 0.25 - 3.0).collect();
        let x: Vec<f32> = (0..5 * f).map(|i| 1.0 - i as f32 * 0.125).collect();
        let params = AlsParams {
            factors: f,
            ..Default::default()
        };
        Model::Als(AlsModel::from_factors(params, y, vec![true; 13], x))
    }

    fn factors(m: &Model) -> (&Buf<f32>, &Buf<f32>) {
        match m {
            Model::Als(a) => (&a.item_factors, &a.user_factors),
            _ => unreachable!(),
        }
    }

    /// A MOD3 record read from a mapping views the factor arrays in place; read from bytes,
    /// it copies them; both give the written values.
    #[test]
    fn als_factors_are_viewed_in_a_mapping() {
        let m = als();
        let mut rec = Vec::new();
        m.write_record(&mut rec).unwrap();
        assert_eq!(&rec[..4], MAGIC);
        let heap = Model::read_record(&rec, None).unwrap();
        // The record at offset 4096 of a (16-aligned) host buffer, as in a file.
        let mut file = vec![0u8; 4096];
        file.extend_from_slice(&rec);
        let map = Mapping::of_host(Box::new(file));
        let viewed = Model::read_record(&map.bytes()[4096..], Some((&map, 4096))).unwrap();
        let (want_y, want_x) = factors(&m);
        for got in [&heap, &viewed] {
            let (y, x) = factors(got);
            assert_eq!((&y[..], &x[..]), (&want_y[..], &want_x[..]));
        }
        let (y, x) = factors(&viewed);
        assert!(y.is_mapped() && x.is_mapped());
        assert!(!factors(&heap).0.is_mapped());
        // Damaged padding is refused.
        let at = rec.len() - want_x.len() * 4 - 1;
        let mut bad = rec.clone();
        bad[at] = 1;
        assert!(
            Model::read_record(&bad, None)
                .unwrap_err()
                .contains("padding")
        );
    }

    /// A MOD2 record (no padding before the factor arrays) still loads.
    #[test]
    fn mod2_records_still_load() {
        let m = als();
        let Model::Als(a) = &m else { unreachable!() };
        let mut w = Writer::default();
        w.0.extend_from_slice(MAGIC_V2);
        w.u32(0);
        let p = &a.params;
        w.u64(p.factors as u64);
        w.u64(p.iterations as u64);
        w.f32s(&[p.regularization, p.alpha]);
        w.u32(0);
        w.u64(p.cg_steps as u64);
        w.u64(p.seed);
        w.f32_array(&a.item_factors);
        w.u64(a.trained.len() as u64);
        w.0.extend(a.trained.iter().map(|&t| t as u8));
        w.f32_array(&a.yty);
        w.u8(0);
        w.f32_array(&a.user_factors);
        let back = Model::read_record(&w.0, None).unwrap();
        assert_eq!(factors(&back).0[..], a.item_factors[..]);
        assert_eq!(factors(&back).1[..], a.user_factors[..]);
    }
}
