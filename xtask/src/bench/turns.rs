//! `cargo xtask bench negotiation`'s second opinion: the five parts of the
//! breakdown run in turns, batch by batch, by `benches/examples/negotiate.rs
//! all`, so that a busy machine disturbs them alike (criterion measures them
//! one after another, seconds apart). The best batch of each is what one
//! undisturbed core does.

use std::path::Path;
use std::process::Command;

use crate::process;
use crate::workspace;

/// Negotiations per part; 20 batches of them.
const RUNS: u32 = 20_000;

/// Builds the example (release), for this and `--callgrind`.
pub fn build_example(root: &Path) -> Result<std::path::PathBuf, String> {
    process::run_checked(
        workspace::cargo().current_dir(root).args([
            "build",
            "--release",
            "-p",
            "benches",
            "--example",
            "negotiate",
        ]),
        "cargo build --example negotiate",
    )?;
    let exe = workspace::target_dir()
        .join("release")
        .join("examples")
        .join("negotiate");
    Ok(exe)
}

pub fn run(root: &Path, target: f64) -> Result<(), String> {
    let exe = build_example(root)?;
    let out = process::capture(
        Command::new(&exe).arg("all").arg(RUNS.to_string()),
        "negotiate all",
    )?;
    // `full: best batch 24.56 us per negotiation (40714/s), median batch 24.75 us`
    let best = |mode: &str| -> Option<(f64, f64)> {
        let line = out.lines().find(|l| l.starts_with(&format!("{mode}:")))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let best = words.get(3)?.parse().ok()?;
        let median = words.get(words.len().checked_sub(2)?)?.parse().ok()?;
        Some((best, median))
    };
    let (Some(full), Some(direct), Some(mechs), Some(codec)) = (
        best("full"),
        best("direct"),
        best("mechanisms"),
        best("codec"),
    ) else {
        return Err(format!("cannot read negotiate's output:\n{out}"));
    };
    let rate = 1e6 / full.0;
    println!(
        "\nthe same in turns ({RUNS} negotiations each in 20 batches; best batch, median in brackets)"
    );
    println!(
        "full: {:.2} us per negotiation ({:.2}), {rate:.0} negotiations/s (target >= {target:.0}/s: {})",
        full.0,
        full.1,
        if rate >= target { "met" } else { "MISSED" }
    );
    for (what, (b, m)) in [
        ("XML: encode + decode of every frame (codec)", codec),
        ("DIGEST-MD5 mechanisms alone (mechanisms)", mechs),
        (
            "the cores' own work (direct - mechanisms)",
            (direct.0 - mechs.0, direct.1 - mechs.1),
        ),
        (
            "the rest (full - direct - codec)",
            (full.0 - direct.0 - codec.0, full.1 - direct.1 - codec.1),
        ),
    ] {
        println!(
            "{what:<48} {b:>9.2} us {:>8.0}%  ({m:.2})",
            100.0 * b / full.0
        );
    }
    if let Some(xml) = best("xml-floor") {
        floor(mechs.0, codec.0, xml.0, target);
    }
    Ok(())
}

/// What the target leaves once the mechanisms and quick-xml's reading and
/// writing of the same bytes (`xml-floor`) are paid: the floor of any
/// negotiation through these mechanisms and an XML codec as fast as
/// quick-xml's, with nothing else (in microseconds).
pub fn floor(mechanisms: f64, codec: f64, xml: f64, target: f64) {
    let floor = mechanisms + xml;
    let budget = 1e6 / target;
    println!(
        "floor: quick-xml reading and writing the same bytes (xml-floor) {xml:.2} us; our codec is \
         {:.2}x it; with the mechanisms {floor:.2} us, {:.0}/s: the target's {budget:.2} us is {}",
        codec / xml,
        1e6 / floor,
        if floor > budget {
            "below the floor"
        } else {
            "above the floor"
        }
    );
}
