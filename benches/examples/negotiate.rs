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
    // Timed in batches: on a shared machine the best batch is the closest to
    // what one undisturbed core does; the median shows the disturbance.
    let batch = (iters / 20).max(1);
    let mut per = Vec::new();
    let mut done = 0;
    while done < iters {
        let n = batch.min(iters - done);
        let t0 = std::time::Instant::now();
        for _ in 0..n {
            run_one(mode, &setup, &config, &mut transcripts);
        }
        per.push(t0.elapsed().as_secs_f64() / n as f64);
        done += n;
    }
    per.sort_by(f64::total_cmp);
    let (best, median) = (per[0], per[per.len() / 2]);
    // For quick wall-clock comparisons; criterion (`cargo xtask bench
    // negotiation`) is the measure.
    eprintln!(
        "{mode}: best batch {:.2} us per negotiation ({:.0}/s), median batch {:.2} us",
        best * 1e6,
        1.0 / best,
        median * 1e6
    );
}

fn run_one(
    mode: &str,
    setup: &Setup,
    config: &xmpp_sasl::ServerMechanismConfig,
    transcripts: &mut Vec<Vec<driver::Step>>,
) {
    match mode {
        "full" => {
            black_box(driver::negotiate(setup, Wire::Codec, None));
        }
        "direct" => {
            black_box(driver::negotiate(setup, Wire::Direct, None));
        }
        "mechanisms" => driver::mechanisms(setup, config),
        "codec" => {
            let steps = transcripts.pop().expect("one per iteration");
            black_box(driver::replay_codec(setup, steps));
        }
        other => {
            eprintln!("unknown mode {other}: full, direct, mechanisms or codec");
            std::process::exit(2);
        }
    }
}
