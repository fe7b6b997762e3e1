//! `cargo xtask bench`.

pub fn run(_args: &[String]) -> Result<(), String> {
    Err("no benchmarks yet".into())
}
