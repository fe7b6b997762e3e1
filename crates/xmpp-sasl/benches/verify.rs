//! Criterion benches: server-side verification per mechanism.

fn main() {}
