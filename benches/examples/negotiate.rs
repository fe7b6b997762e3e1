//! Run the in-memory negotiation of `benches/negotiation.rs` N times, for
//! profilers (`valgrind --tool=callgrind`, `perf record`), where
//! criterion's own work would blur the picture.
//!
//! `cargo run --release -p benches --example negotiate -- <full|direct|mechanisms|codec|xml-floor|all> [iterations]`
//!
//! `all` runs the four in turns, batch by batch, and prints each one's best
//! and median batch: `cargo xtask bench negotiation` shows that next to
//! criterion's numbers.
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

const MODES: [&str; 5] = ["full", "direct", "mechanisms", "codec", "xml-floor"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("full");
    let iters: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let modes: Vec<&str> = match mode {
        "all" => MODES.to_vec(),
        m if MODES.contains(&m) => vec![m],
        other => {
            eprintln!("unknown mode {other}: full, direct, mechanisms, codec, xml-floor or all");
            std::process::exit(2);
        }
    };
    let setup = Setup::new();
    let config = setup.mechanism_config();
    let wire = driver::wire_bytes(&setup);
    if modes.contains(&"xml-floor") {
        println!(
            "wire: {} bytes to the server, {} to the client, {} quick-xml events",
            wire.0.len(),
            wire.1.len(),
            driver::quick_xml_floor(&wire)
        );
    }
    let mut transcripts = Vec::new();
    if modes.contains(&"codec") {
        let transcript = driver::transcript(&setup);
        transcripts = vec![transcript; iters];
    }
    // Timed in batches, the modes taking turns: on a shared machine the best
    // batch is the closest to what one undisturbed core does, and taking
    // turns exposes every mode to the same disturbance; the median shows
    // how much there was.
    let batch = (iters / 20).max(1);
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    let mut done = 0;
    while done < iters {
        let n = batch.min(iters - done);
        for (m, times) in modes.iter().zip(per.iter_mut()) {
            let t0 = std::time::Instant::now();
            for _ in 0..n {
                run_one(m, &setup, &config, &wire, &mut transcripts);
            }
            times.push(t0.elapsed().as_secs_f64() / n as f64);
        }
        done += n;
    }
    for (m, mut times) in modes.iter().zip(per) {
        times.sort_by(f64::total_cmp);
        let (best, median) = (times[0], times[times.len() / 2]);
        // For quick wall-clock comparisons, and a breakdown that a busy
        // machine disturbs less than criterion's one-after-another runs.
        println!(
            "{m}: best batch {:.2} us per negotiation ({:.0}/s), median batch {:.2} us",
            best * 1e6,
            1.0 / best,
            median * 1e6
        );
    }
}

fn run_one(
    mode: &str,
    setup: &Setup,
    config: &xmpp_sasl::ServerMechanismConfig,
    wire: &(Vec<u8>, Vec<u8>),
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
        "xml-floor" => {
            black_box(driver::quick_xml_floor(wire));
        }
        _ => unreachable!("modes are checked in main"),
    }
}
