//! Run the in-memory negotiation of `benches/negotiation.rs` N times, for
//! profilers (`valgrind --tool=callgrind`, `perf record`), where
//! criterion's own work would blur the picture.
//!
//! `cargo run --release -p benches --example negotiate -- <full|direct|mechanisms|codec> [iterations]`
//!
//! Each mode spends its time in one function of the driver, never inlined:
//! `negotiate` (full, direct), `mechanisms`, `replay_codec` (codec), so
//! `valgrind --tool=callgrind --toggle-collect='*driver*negotiate'` (say)
//! counts that and nothing else, as `cargo xtask bench negotiation
//! --callgrind` does. The codec mode's copies of the transcript are made
//! before the clock starts.

#[path = "../benches/negotiation/driver.rs"]
mod driver;

use std::hint::black_box;

use driver::{Setup, Wire};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("full");
    let iters: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let setup = Setup::new();
    let config = setup.mechanism_config();
    let mut transcripts = Vec::new();
    if mode == "codec" {
        let transcript = driver::transcript(&setup);
        transcripts = vec![transcript; iters];
    }
    let t0 = std::time::Instant::now();
    for _ in 0..iters {
        match mode {
            "full" => {
                black_box(driver::negotiate(&setup, Wire::Codec, None));
            }
            "direct" => {
                black_box(driver::negotiate(&setup, Wire::Direct, None));
            }
            "mechanisms" => driver::mechanisms(&setup, &config),
            "codec" => {
                let steps = transcripts.pop().expect("one per iteration");
                black_box(driver::replay_codec(&setup, steps));
            }
            other => {
                eprintln!("unknown mode {other}: full, direct, mechanisms or codec");
                std::process::exit(2);
            }
        }
    }
    // For quick wall-clock comparisons; criterion (`cargo xtask bench
    // negotiation`) is the measure.
    let per = t0.elapsed().as_secs_f64() / iters.max(1) as f64;
    eprintln!(
        "{mode}: {:.2} us per negotiation, {:.0}/s",
        per * 1e6,
        1.0 / per
    );
}
