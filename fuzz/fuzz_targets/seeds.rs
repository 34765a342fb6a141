//! Writes valid engine files of every section kind and storage (f32 and int8 vectors, each
//! metric, native and exact indexes, every model) into the directory given, as the seeds of
//! the loader's fuzzing.

use embedrec::ndarray::Array2;
use embedrec::{
    Engine, EngineConfig, IndexKind, ItemAttrs, Metric, ModelSpec, SplitMix64, VectorStorage,
};

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("a directory"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut r = SplitMix64(1);
    let mut n = 0;
    for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
        for (index, storage) in [
            (IndexKind::Native, VectorStorage::F32),
            (IndexKind::NativeInt8, VectorStorage::F32),
            (IndexKind::Native1Bit, VectorStorage::F32),
            (IndexKind::Native, VectorStorage::Int8),
            (IndexKind::Native, VectorStorage::F16),
            (IndexKind::Exact, VectorStorage::F32),
        ] {
            for model in [None, Some("als"), Some("item_knn"), Some("ease"), Some("popularity")] {
                let cfg = EngineConfig::new(4)
                    .with_metric(metric)
                    .with_index(index)
                    .with_vector_storage(storage)
                    .with_threads(1);
                let e = Engine::new(cfg).unwrap();
                let ids: Vec<String> = (0..12).map(|i| format!("i{i}")).collect();
                let v = Array2::from_shape_fn((12, 4), |_| r.normal() + 0.01);
                let attrs: Vec<ItemAttrs> = (0..12)
                    .map(|i| ItemAttrs::tags([format!("t{}", i % 3)]).number("year", i as f64))
                    .collect();
                e.upsert_items(&ids, v.view(), Some(&attrs)).unwrap();
                e.remove_items(&["i3"]).unwrap();
                e.add_interactions(&["u1", "u1", "u2"], &["i1", "i2", "i4"], None, Some(&[1, 2, 3]))
                    .unwrap();
                if let Some(m) = model {
                    e.fit(&ModelSpec::parse(m).unwrap(), None).unwrap();
                }
                std::fs::write(dir.join(format!("seed-{n:03}.embedrec")), e.to_bytes().unwrap())
                    .unwrap();
                n += 1;
            }
        }
    }
}
