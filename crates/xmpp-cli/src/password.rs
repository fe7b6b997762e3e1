//! Reading passwords: from one line of stdin or a no-echo prompt, never argv.

use std::io::BufRead as _;

use zeroize::Zeroizing;

use crate::exit::Failure;

/// Reads the password: the first line of stdin with `from_stdin`, else a
/// prompt on the terminal (asked twice when `confirm`).
pub fn read(from_stdin: bool, prompt: &str, confirm: bool) -> Result<Zeroizing<String>, Failure> {
    let password = if from_stdin {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::usage(format!("cannot read the password from stdin: {e}")))?;
        let trimmed = line.trim_end_matches(['\r', '\n']);
        Zeroizing::new(trimmed.to_owned())
    } else {
        let ask = |p: &str| {
            rpassword::prompt_password(p)
                .map(Zeroizing::new)
                .map_err(|e| {
                    Failure::usage(format!(
                    "cannot prompt for the password ({e}); pass it on stdin with --password-stdin"
                ))
                })
        };
        let first = ask(prompt)?;
        if confirm {
            let again = ask("Again: ")?;
            if *again != *first {
                return Err(Failure::usage("the passwords do not match"));
            }
        }
        first
    };
    if password.is_empty() {
        return Err(Failure::usage("empty password"));
    }
    Ok(password)
}
