//! Whether this stream may offer STARTTLS.

use super::ServerCore;
use crate::server::TlsPolicy;

impl ServerCore {
    /// Never offers or accepts STARTTLS, whatever the config says: for
    /// WebSocket, where TLS is `wss:` only (RFC 7395 §3.7).
    pub fn disable_starttls(&mut self) {
        self.no_starttls = true;
    }

    /// The STARTTLS policy on this stream.
    pub(super) fn starttls(&self) -> TlsPolicy {
        if self.no_starttls {
            TlsPolicy::Off
        } else {
            self.config.starttls()
        }
    }
}
