//! Encoding benches (placeholder until the suite lands).
fn main() {}
