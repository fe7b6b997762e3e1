//! The loop both fuzzers run: command line, corpus with outcome feedback, progress,
//! failure artifacts and replay.
//!
//! ```text
//! <fuzzer> [--seconds N] [--execs N] [--seed N]   # fuzz
//! <fuzzer> FILE...                                 # replay saved cases
//! ```
//!
//! `--execs` alone runs exactly that many cases whatever the time it takes, so a
//! given seed always runs the same cases (what CI relies on); `--seconds` alone
//! runs for that long; both stop at whichever comes first; neither means 60 s.
//! A failing case is written to `fuzz/artifacts/<fuzzer>/` and the run exits 1.

use std::collections::HashSet;
use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::Rng;

/// One fuzzer: its cases, how it mutates them and what it checks.
pub trait Target {
    /// One input: what is mutated, run, kept in the corpus and saved on failure.
    type Case: Clone + Debug;
    /// The binary's name, for messages and the artifact directory.
    const NAME: &'static str;
    /// The corpus stops growing at this size; new cases then replace old non-seed ones.
    const CORPUS_CAP: usize;
    /// Besides each case reaching a new outcome, one in this many is kept at random.
    const KEEP_ONE_IN: usize;

    /// The starting corpus. It may assert that the seeds reach the deep states:
    /// it runs before panics are silenced.
    fn seeds(&self) -> Vec<Self::Case>;
    /// A new case derived from the corpus.
    fn mutate(&self, rng: &mut Rng, corpus: &[Self::Case]) -> Self::Case;
    /// Whether to run `case` now. Lets a fuzzer run slow cases rarely; a case not
    /// run does not count as an execution.
    fn run_now(&self, _case: &Self::Case, _rng: &mut Rng) -> bool {
        true
    }
    /// Runs one case: its outcome key (a new key keeps the case in the corpus, crude
    /// coverage feedback), or why it failed. A panic is a failure too.
    fn check(&self, case: &Self::Case) -> Result<String, String>;
    /// The bytes saved for a failing case; [`Target::replay`] takes them back.
    fn encode(&self, case: &Self::Case) -> Vec<u8>;
    /// Replays saved bytes: the outcome, or why it failed.
    fn replay(&self, bytes: &[u8]) -> Result<String, String>;
}

/// Where a run stops.
#[derive(Debug, PartialEq)]
struct Options {
    seconds: Option<u64>,
    execs: Option<u64>,
    seed: u64,
    files: Vec<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            seconds: None,
            execs: None,
            seed: 0x9E37_79B9_7F4A_7C15,
            files: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut num = || {
                it.next()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| format!("{a} needs a number"))
            };
            match a.as_str() {
                "--seconds" => o.seconds = Some(num()?),
                "--execs" => o.execs = Some(num()?),
                "--seed" => o.seed = num()?,
                f if f.starts_with("--") => return Err(format!("unknown option {f}")),
                f => o.files.push(f.into()),
            }
        }
        if o.seconds.is_none() && o.execs.is_none() {
            o.seconds = Some(60);
        }
        Ok(o)
    }
}

/// The corpus and the outcomes seen so far.
struct Corpus<C> {
    cases: Vec<C>,
    seeds: usize,
    outcomes: HashSet<String>,
}

impl<C> Corpus<C> {
    /// Keeps `case` if it reached a new outcome, or at random one in `keep_one_in`.
    fn offer(&mut self, rng: &mut Rng, key: String, case: C, cap: usize, keep_one_in: usize) {
        if self.outcomes.insert(key) || rng.below(keep_one_in) == 0 {
            if self.cases.len() < cap {
                self.cases.push(case);
            } else {
                let i = self.seeds + rng.below(self.cases.len() - self.seeds);
                self.cases[i] = case;
            }
        }
    }
}

/// Runs `f`, turning a panic into an error that carries the panic message.
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
        Err(format!("panic: {}", msg.unwrap_or_default()))
    })
}

/// FNV-1a: a stable artifact name for the same bytes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn save<T: Target>(target: &T, case: &T::Case, why: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts")
        .join(T::NAME);
    let _ = std::fs::create_dir_all(&dir);
    let bytes = target.encode(case);
    let path = dir.join(format!("crash-{:016x}", fnv1a(&bytes)));
    let saved = match std::fs::write(&path, &bytes) {
        Ok(()) => format!("saved to {}", path.display()),
        Err(e) => format!("cannot save to {}: {e}", path.display()),
    };
    eprintln!("FAILURE ({why})\ncase {case:?}\n{saved}");
}

fn replay<T: Target>(target: &T, files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for f in files {
        let r = std::fs::read(f)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|bytes| catch_panic(|| target.replay(&bytes)));
        match r {
            Ok(outcome) => println!("{}: ok ({outcome})", f.display()),
            Err(why) => {
                eprintln!("{}: {why}", f.display());
                failed = true;
            }
        }
    }
    ExitCode::from(u8::from(failed))
}

/// A fuzzer's `main`: parses the command line, then fuzzes or replays.
pub fn main<T: Target>(target: T) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match Options::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "{}: {e}\nusage: {} [--seconds N] [--execs N] [--seed N] | FILE...",
                T::NAME,
                T::NAME
            );
            return ExitCode::from(2);
        }
    };
    if !opts.files.is_empty() {
        std::panic::set_hook(Box::new(|_| {}));
        return replay(&target, &opts.files);
    }
    let seeds = target.seeds();
    // Failures are reported with their panic message; the default hook would
    // print each one a second time.
    std::panic::set_hook(Box::new(|_| {}));
    let mut corpus = Corpus {
        seeds: seeds.len(),
        cases: seeds,
        outcomes: HashSet::new(),
    };
    let mut rng = Rng::new(opts.seed);
    let start = Instant::now();
    let deadline = opts.seconds.map(|s| start + Duration::from_secs(s));
    let max_execs = opts.execs.unwrap_or(u64::MAX);
    let (mut execs, mut skipped, mut tries) = (0u64, 0u64, 0u64);
    let mut last_report = start;
    while execs < max_execs {
        // Reading the clock for every case would cost more than some cases do.
        tries += 1;
        if tries % 64 == 0 {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            if last_report.elapsed() > Duration::from_secs(10) {
                last_report = Instant::now();
                eprintln!(
                    "{execs} execs, {:.0}/s, corpus {}, outcomes {}",
                    execs as f64 / start.elapsed().as_secs_f64(),
                    corpus.cases.len(),
                    corpus.outcomes.len()
                );
            }
        }
        let case = target.mutate(&mut rng, &corpus.cases);
        if !target.run_now(&case, &mut rng) {
            skipped += 1;
            continue;
        }
        execs += 1;
        match catch_panic(|| target.check(&case)) {
            Ok(key) => corpus.offer(&mut rng, key, case, T::CORPUS_CAP, T::KEEP_ONE_IN),
            Err(why) => {
                save(&target, &case, &why);
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "{}: {execs} executions in {:.1}s ({skipped} skipped), seed {}, no failures; \
         corpus {}, distinct outcomes {}, seeds {}",
        T::NAME,
        start.elapsed().as_secs_f64(),
        opts.seed,
        corpus.cases.len(),
        corpus.outcomes.len(),
        corpus.seeds
    );
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn execs_alone_has_no_time_limit() {
        let o = parse(&["--execs", "1000", "--seed", "7"]).unwrap();
        assert_eq!((o.execs, o.seconds, o.seed), (Some(1000), None, 7));
        assert_eq!(parse(&[]).unwrap().seconds, Some(60));
        assert!(parse(&["--execs"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert_eq!(parse(&["a", "b"]).unwrap().files.len(), 2);
    }

    #[test]
    fn a_full_corpus_keeps_its_seeds() {
        let mut c = Corpus {
            cases: vec![0, 1],
            seeds: 2,
            outcomes: HashSet::new(),
        };
        let mut rng = Rng::new(3);
        for i in 0..100 {
            c.offer(&mut rng, i.to_string(), 100 + i, 4, 1);
        }
        assert_eq!(c.cases.len(), 4);
        assert_eq!(&c.cases[..2], &[0, 1]);
    }

    #[test]
    fn panics_become_errors() {
        let r: Result<(), String> = catch_panic(|| panic!("boom {}", 1));
        assert_eq!(r, Err("panic: boom 1".into()));
    }
}
