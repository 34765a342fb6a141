//! Runnable examples of embedrec; see each file under `examples/` (`cargo run --release -p
//! embedrec-examples --example quickstart`).
