//! The SCRAM client: client-first, client-final, then the server's signature.

use crate::channel_binding::{ChannelBinding, ClientChannelBinding};
use crate::client::{ClientCredentials, ClientMechanism};
use crate::crypto::{self, b64, b64_decode, ScramHash};
use crate::error::ClientError;
use crate::mechanism::Mechanism;
use crate::mutual_auth::{MutualAuth, ProofFormat};
use crate::store::DEFAULT_ITERATIONS;

use super::{
    attrs, encode_saslname, gs2_header, valid_scram_nonce, xor, MAX_ITERATIONS, MAX_MESSAGE,
};

enum ClientState {
    Initial,
    ExpectServerFirst {
        /// `gs2-header || cbind-data`, sent base64-encoded as `c=`.
        cbind_input: Vec<u8>,
        client_first_bare: String,
    },
    /// client-final is sent; the server's signature is next.
    Finish(MutualAuth),
    Failed,
}

/// SCRAM client (`SCRAM-SHA-*`, or `SCRAM-SHA-*-PLUS` via [`ScramClient::new_plus`]).
pub struct ScramClient {
    hash: ScramHash,
    plus: bool,
    creds: ClientCredentials,
    nonce: String,
    min_iterations: u32,
    state: ClientState,
}

impl ScramClient {
    /// A client with a fresh CSPRNG nonce.
    pub fn new(hash: ScramHash, creds: ClientCredentials) -> Self {
        Self::with_nonce(hash, creds, crypto::random_nonce())
    }

    /// A client with a given nonce (tests). It must be printable ASCII without `,`;
    /// otherwise [`initial_response`](ClientMechanism::initial_response) fails.
    pub fn with_nonce(hash: ScramHash, creds: ClientCredentials, nonce: impl Into<String>) -> Self {
        ScramClient {
            hash,
            plus: false,
            creds,
            nonce: nonce.into(),
            min_iterations: DEFAULT_ITERATIONS,
            state: ClientState::Initial,
        }
    }

    /// A `-PLUS` client with a fresh CSPRNG nonce; `None` unless
    /// `creds.channel_binding` is [`ClientChannelBinding::Use`].
    pub fn new_plus(hash: ScramHash, creds: ClientCredentials) -> Option<Self> {
        Self::with_nonce_plus(hash, creds, crypto::random_nonce())
    }

    /// A `-PLUS` client with a given nonce (tests); `None` unless
    /// `creds.channel_binding` is [`ClientChannelBinding::Use`].
    pub fn with_nonce_plus(
        hash: ScramHash,
        creds: ClientCredentials,
        nonce: impl Into<String>,
    ) -> Option<Self> {
        if !matches!(creds.channel_binding, ClientChannelBinding::Use(_)) {
            return None;
        }
        let mut c = Self::with_nonce(hash, creds, nonce);
        c.plus = true;
        Some(c)
    }

    /// The GS2 header and the `c=` input (`gs2-header || cbind-data`). A client
    /// never sends `p=` with a non-PLUS name, and never `n` when it could bind
    /// (RFC 5802 §6).
    fn gs2(&self) -> Result<(String, Vec<u8>), ClientError> {
        let authzid = self.creds.effective_authzid();
        let (flag, data): (String, &[u8]) = match (&self.creds.channel_binding, self.plus) {
            (ClientChannelBinding::Use(ChannelBinding { kind, data }), true) => {
                (format!("p={}", kind.as_str()), data)
            }
            (_, true) => return Err(ClientError::Credentials("-PLUS without channel binding")),
            (ClientChannelBinding::Unsupported, false) => ("n".to_owned(), &[]),
            (_, false) => ("y".to_owned(), &[]),
        };
        let header = gs2_header(&flag, authzid);
        let mut input = header.clone().into_bytes();
        input.extend_from_slice(data);
        Ok((header, input))
    }

    /// Lowers or raises the minimum iteration count accepted (default 4096).
    pub fn with_min_iterations(mut self, min: u32) -> Self {
        self.min_iterations = min;
        self
    }

    fn client_first(&mut self) -> Result<Vec<u8>, ClientError> {
        if !matches!(self.state, ClientState::Initial) {
            return Err(ClientError::OutOfSequence("client-first already sent"));
        }
        if !valid_scram_nonce(&self.nonce) {
            return Err(ClientError::Credentials("invalid injected nonce"));
        }
        if self.creds.require_ssdp && self.creds.ssdp.is_none() {
            return Err(ClientError::Credentials(
                "XEP-0474 required, but no advertised lists to check h= against",
            ));
        }
        let user = crypto::normalize(&self.creds.username);
        if user.is_empty() {
            return Err(ClientError::Credentials("empty username"));
        }
        let (gs2, cbind_input) = self.gs2()?;
        let client_first_bare = format!("n={},r={}", encode_saslname(&user), self.nonce);
        let msg = format!("{gs2}{client_first_bare}").into_bytes();
        self.state = ClientState::ExpectServerFirst {
            cbind_input,
            client_first_bare,
        };
        Ok(msg)
    }

    /// XEP-0474: compares the server's `h=` with the hash of what the stream
    /// advertised (constant time; the lists are public, the habit is cheap).
    fn check_ssdp(&self, h: Option<&str>) -> Result<(), ClientError> {
        let (Some(h), Some(ssdp)) = (h, &self.creds.ssdp) else {
            return match h {
                None if self.creds.require_ssdp => Err(ClientError::NoDowngradeProtection),
                // No h=, or nothing to compare it with.
                _ => Ok(()),
            };
        };
        let got = b64_decode(h.as_bytes())
            .filter(|g| !g.is_empty())
            .ok_or_else(|| ClientError::Malformed("h= is not base64".to_owned()))?;
        if crypto::ct_eq(&got, &ssdp.digest(self.hash)) {
            Ok(())
        } else {
            Err(ClientError::Downgrade)
        }
    }

    fn client_final(
        &self,
        cbind_input: &[u8],
        client_first_bare: &str,
        server_first: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
        let malformed = |s: &str| ClientError::Malformed(s.to_owned());
        if server_first.len() > MAX_MESSAGE {
            return Err(malformed("server-first too long"));
        }
        let sf = std::str::from_utf8(server_first).map_err(|_| malformed("not UTF-8"))?;
        let mut it = attrs(sf);
        let r = match it.next().flatten() {
            Some((b'r', r)) => r,
            Some((b'e', e)) => return Err(ClientError::Server(e.to_owned())),
            Some((b'm', _)) => {
                return Err(ClientError::Protocol(
                    "unsupported mandatory extension".into(),
                ))
            }
            _ => return Err(malformed("expected r=")),
        };
        let s = match it.next().flatten() {
            Some((b's', s)) => s,
            _ => return Err(malformed("expected s=")),
        };
        let i = match it.next().flatten() {
            Some((b'i', i)) => i,
            _ => return Err(malformed("expected i=")),
        };
        // Extensions (RFC 5802 §5.1): XEP-0474's h= is checked below; others,
        // XEP-0474 0.3's d= among them, are ignored. All of them stay in
        // AuthMessage, which covers server-first as received.
        let mut h = None;
        for a in it {
            match a {
                None => return Err(malformed("bad attribute")),
                Some((b'h', v)) => {
                    if h.replace(v).is_some() {
                        return Err(malformed("more than one h="));
                    }
                }
                Some(_) => {}
            }
        }
        if !valid_scram_nonce(r) {
            return Err(malformed("bad nonce"));
        }
        if !r.starts_with(self.nonce.as_str()) || r.len() == self.nonce.len() {
            return Err(ClientError::Protocol(
                "server nonce does not extend ours".into(),
            ));
        }
        let salt = b64_decode(s.as_bytes()).ok_or_else(|| malformed("salt is not base64"))?;
        if salt.is_empty() {
            return Err(malformed("empty salt"));
        }
        if i.is_empty()
            || !i.bytes().all(|b| b.is_ascii_digit())
            || (i.len() > 1 && i.starts_with('0'))
        {
            return Err(malformed("bad iteration count"));
        }
        let iterations: u32 = i
            .parse()
            .map_err(|_| ClientError::Protocol("iteration count too large".into()))?;
        if iterations < self.min_iterations {
            return Err(ClientError::Protocol(format!(
                "iteration count {iterations} below minimum {}",
                self.min_iterations
            )));
        }
        if iterations > MAX_ITERATIONS {
            return Err(ClientError::Protocol(format!(
                "iteration count {iterations} above maximum {MAX_ITERATIONS}"
            )));
        }
        // Before the key derivation: a downgraded exchange costs no PBKDF2.
        self.check_ssdp(h)?;
        let without_proof = format!("c={},r={r}", b64(cbind_input));
        let auth_message = format!("{client_first_bare},{sf},{without_proof}");
        let password = crypto::normalize_password(&self.creds.password);
        let salted = match &self.creds.pbkdf2_cache {
            Some(cache) => {
                cache.client_salted_password(self.hash, password.as_bytes(), &salt, iterations)
            }
            None => self
                .hash
                .salted_password(password.as_bytes(), &salt, iterations),
        };
        let (client_key, stored_key, server_key) = self.hash.keys(&salted);
        let client_sig = self.hash.hmac(&stored_key, auth_message.as_bytes());
        let proof = xor(&client_key, &client_sig);
        let server_signature = self.hash.hmac(&server_key, auth_message.as_bytes());
        let msg = format!("{without_proof},p={}", b64(&proof)).into_bytes();
        Ok((msg, server_signature))
    }
}

/// `server-final-message`: `v=<ServerSignature>`, or `e=<error>`.
static SERVER_FINAL: ProofFormat = ProofFormat {
    extract: server_signature,
    wrong: "wrong server signature",
    missing: "success without server signature",
};

/// The decoded `v=` of a `server-final-message`.
fn server_signature(data: &[u8]) -> Result<Vec<u8>, ClientError> {
    if data.len() > MAX_MESSAGE {
        return Err(ClientError::MutualAuth("server-final too long"));
    }
    let s =
        std::str::from_utf8(data).map_err(|_| ClientError::MutualAuth("malformed server-final"))?;
    match attrs(s).next().flatten() {
        Some((b'v', v)) => {
            b64_decode(v.as_bytes()).ok_or(ClientError::MutualAuth("malformed server signature"))
        }
        Some((b'e', e)) => Err(ClientError::Server(e.to_owned())),
        _ => Err(ClientError::MutualAuth("no server signature")),
    }
}

impl ClientMechanism for ScramClient {
    fn name(&self) -> Mechanism {
        if self.plus {
            self.hash.plus_mechanism()
        } else {
            self.hash.mechanism()
        }
    }

    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        self.client_first().map(Some)
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, ClientError> {
        match std::mem::replace(&mut self.state, ClientState::Failed) {
            // The server did not take an initial response: it sends an empty challenge.
            ClientState::Initial if challenge.is_empty() => self.client_first(),
            ClientState::Initial => Err(ClientError::Protocol(
                "first SCRAM challenge must be empty".into(),
            )),
            ClientState::ExpectServerFirst {
                cbind_input,
                client_first_bare,
            } => {
                let (msg, server_signature) =
                    self.client_final(&cbind_input, &client_first_bare, challenge)?;
                self.state =
                    ClientState::Finish(MutualAuth::expect(&SERVER_FINAL, server_signature));
                Ok(msg)
            }
            // Some servers send server-final in a challenge, then an empty success.
            ClientState::Finish(mut finish) => {
                let resp = finish.challenge(challenge)?;
                self.state = ClientState::Finish(finish);
                Ok(resp)
            }
            ClientState::Failed => Err(ClientError::OutOfSequence(
                "challenge after the exchange ended",
            )),
        }
    }

    fn success(&mut self, additional: Option<&[u8]>) -> Result<(), ClientError> {
        match std::mem::replace(&mut self.state, ClientState::Failed) {
            ClientState::Finish(mut finish) => {
                finish.success(additional)?;
                self.state = ClientState::Finish(finish);
                Ok(())
            }
            _ => Err(ClientError::OutOfSequence(
                "success before the SCRAM exchange ended",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scram::scramp;

    /// The client half of the scramp `-PLUS` vectors (see `scramp::PLUS`).
    #[test]
    fn scramp_plus_vectors() {
        for (hash, cnonce, snonce, salt_b64, cfinal, sfinal) in scramp::PLUS {
            let server_first = format!("r={cnonce}{snonce},s={salt_b64},i=4096");
            let creds = ClientCredentials::new("user", "pencil", "example.com");
            let mut c = ScramClient::with_nonce(hash, creds, cnonce);
            c.state = ClientState::ExpectServerFirst {
                cbind_input: scramp::CBIND_INPUT.to_vec(),
                client_first_bare: format!("n=user,r={cnonce}"),
            };
            let out = c.respond(server_first.as_bytes()).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), cfinal);
            c.success(Some(sfinal.as_bytes())).unwrap();
        }
    }
}
