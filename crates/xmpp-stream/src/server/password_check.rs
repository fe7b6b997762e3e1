//! Checking a password the client sent (PLAIN) as a job the shell can run
//! away from its I/O threads: the check derives a key from the password
//! (PBKDF2 against the stored SCRAM secret), which takes milliseconds of
//! CPU by design. The core stays sans-IO: it only hands the job out and
//! takes the result back.

use std::fmt;

use xmpp_sasl::{Mechanism, ServerMechanism, ServerStep, StoreError, StoredCredentials};

/// A password check to run, from [`ServerAction::CheckPassword`]: call
/// [`PasswordCheck::run`] (on a thread that may block for a while) and
/// hand the result to [`ServerCore::handle_password_checked`]. A shell
/// that has no capacity left calls
/// [`ServerCore::handle_password_check_refused`] instead.
///
/// [`ServerAction::CheckPassword`]: super::ServerAction::CheckPassword
/// [`ServerCore::handle_password_checked`]: super::ServerCore::handle_password_checked
/// [`ServerCore::handle_password_check_refused`]: super::ServerCore::handle_password_check_refused
pub struct PasswordCheck {
    mechanism: Box<dyn ServerMechanism>,
    found: Result<Option<StoredCredentials>, StoreError>,
}

impl PasswordCheck {
    pub(crate) fn new(
        mechanism: Box<dyn ServerMechanism>,
        found: Result<Option<StoredCredentials>, StoreError>,
    ) -> Self {
        PasswordCheck { mechanism, found }
    }

    /// The mechanism whose password is checked.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism.name()
    }

    /// Runs the check: CPU-bound, no I/O.
    pub fn run(mut self) -> CheckedPassword {
        let step = self.mechanism.credentials(self.found);
        CheckedPassword {
            mechanism: self.mechanism,
            step,
        }
    }
}

impl fmt::Debug for PasswordCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither the stored secrets nor the mechanism's state belong in logs.
        f.debug_struct("PasswordCheck")
            .field("mechanism", &self.mechanism())
            .finish_non_exhaustive()
    }
}

/// The result of [`PasswordCheck::run`], for
/// [`ServerCore::handle_password_checked`](super::ServerCore::handle_password_checked).
pub struct CheckedPassword {
    pub(crate) mechanism: Box<dyn ServerMechanism>,
    pub(crate) step: ServerStep,
}

impl fmt::Debug for CheckedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedPassword")
            .field("mechanism", &self.mechanism.name())
            .finish_non_exhaustive()
    }
}
