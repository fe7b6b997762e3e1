//! Project chores: `cargo xtask <command>`.
//!
//! - `bench`: run the criterion benchmarks and print a comparison table.
//! - `bench-e2e`: login rates of `xmpp serve` against ejabberd and Prosody.
//! - `interop`: install and start real XMPP/SASL peers on 127.0.0.1, then run
//!   the interop test suite against them.

mod bench;
mod bench_e2e;
mod interop;
mod peers;
mod ports;
mod process;
mod workspace;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((cmd, rest)) => (cmd.as_str(), rest),
        None => return usage(),
    };
    let result = match cmd {
        "bench" => bench::run(rest),
        "bench-e2e" => bench_e2e::run(rest),
        "interop" => interop::run(rest),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: cargo xtask <bench|interop> [args]");
    ExitCode::from(2)
}
