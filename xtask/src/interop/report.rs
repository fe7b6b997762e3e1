//! What the suite reports: pass/fail counts, the selftest table, and the counts in
//! cargo test's `test result:` lines.

/// Passed and failed cases.
#[derive(Clone, Copy, Default)]
pub(super) struct Counts {
    pub passed: usize,
    pub failed: usize,
}

/// In `"ok. 12 passed; 0 failed; ..."`, the number before `word`.
pub(super) fn count_before(text: &str, word: &str) -> usize {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[1].trim_end_matches([';', ',']) == word)
        .and_then(|w| w[0].parse().ok())
        .unwrap_or(0)
}

/// The selftest table's header line.
pub(super) fn table_header() {
    println!(
        "{:<11} {:<19} {:<29} {:<9} {:>6}  result",
        "client", "server", "mechanism", "password", "ms"
    );
}

/// One selftest line: `verdict` is the detail of a pass, or why the case failed.
pub(super) fn table_row(
    client: &str,
    server: &str,
    mech: &str,
    password: &str,
    ms: u128,
    verdict: &Result<String, String>,
) {
    let (result, msg) = match verdict {
        Ok(msg) => ("ok  ", msg),
        Err(msg) => ("FAIL", msg),
    };
    println!("{client:<11} {server:<19} {mech:<29} {password:<9} {ms:>6}  {result}  {msg}");
}

/// The selftest's closing line.
pub(super) fn selftest_summary(counts: Counts) {
    println!(
        "selftest: {} passed, {} failed",
        counts.passed, counts.failed
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_come_from_cargo_result_lines() {
        let line =
            "FAILED. 11 passed; 1 failed; 0 ignored; 0 measured; 3 filtered out; finished in 6.29s";
        assert_eq!(count_before(line, "passed"), 11);
        assert_eq!(count_before(line, "failed"), 1);
        assert_eq!(count_before("ok. nothing here", "passed"), 0);
    }
}
