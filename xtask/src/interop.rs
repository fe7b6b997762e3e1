//! `cargo xtask interop`.

pub fn run(_args: &[String]) -> Result<(), String> {
    Err("no interop suite yet".into())
}
