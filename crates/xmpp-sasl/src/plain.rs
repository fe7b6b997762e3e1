//! PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`, UTF-8, SASLprep (where it succeeds).
//!
//! The server never stores the password: it derives the SCRAM salted password from
//! the offered one with the stored salt and iteration count and compares StoredKey.

use zeroize::Zeroizing;

use crate::client::{ClientCredentials, ClientMechanism};
use crate::crypto::{self, ScramHash};
use crate::error::{ClientError, ServerFailure, StoreError};
use crate::mechanism::Mechanism;
use crate::server::{ServerMechanism, ServerMechanismConfig, ServerStep};
use crate::store::StoredCredentials;

/// Longest accepted field in octets (RFC 4616 §2 requires at least 255).
pub const MAX_FIELD: usize = 1024;

/// PLAIN client.
pub struct PlainClient {
    creds: ClientCredentials,
    sent: bool,
}

impl PlainClient {
    /// A PLAIN client.
    pub fn new(creds: ClientCredentials) -> Self {
        PlainClient { creds, sent: false }
    }

    fn message(&mut self) -> Result<Vec<u8>, ClientError> {
        if self.sent {
            return Err(ClientError::OutOfSequence("PLAIN message already sent"));
        }
        let user = crypto::normalize(&self.creds.username);
        let pass = crypto::normalize_password(&self.creds.password);
        if user.is_empty() || pass.is_empty() {
            return Err(ClientError::Credentials("empty username or password"));
        }
        let authzid = self.creds.effective_authzid().unwrap_or_default();
        // Sized once: growing would free partial copies unwiped.
        let mut out = Vec::with_capacity(authzid.len() + user.len() + pass.len() + 2);
        out.extend_from_slice(authzid.as_bytes());
        out.push(0);
        out.extend_from_slice(user.as_bytes());
        out.push(0);
        out.extend_from_slice(pass.as_bytes());
        self.sent = true;
        Ok(out)
    }
}

impl ClientMechanism for PlainClient {
    fn name(&self) -> Mechanism {
        Mechanism::Plain
    }

    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        self.message().map(Some)
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, ClientError> {
        // A server that did not take our initial response sends an empty challenge.
        if !challenge.is_empty() {
            return Err(ClientError::Protocol(
                "PLAIN challenge must be empty".into(),
            ));
        }
        self.message()
    }

    fn success(&mut self, _additional: Option<&[u8]>) -> Result<(), ClientError> {
        // PLAIN has no mutual authentication and no additional data; anything sent is ignored.
        if self.sent {
            Ok(())
        } else {
            Err(ClientError::OutOfSequence("success before PLAIN message"))
        }
    }
}

enum State {
    Start,
    ExpectMessage,
    ExpectCredentials {
        authcid: String,
        authzid: Option<String>,
        password: Zeroizing<String>,
    },
    Done,
}

/// PLAIN server.
pub struct PlainServer {
    cfg: ServerMechanismConfig,
    state: State,
}

/// Splits and checks a PLAIN message: `(authzid, authcid, password)`, SASLprep'ed.
pub(crate) fn parse_message(
    msg: &[u8],
) -> Result<(Option<String>, String, Zeroizing<String>), ServerFailure> {
    let malformed = |s: &str| ServerFailure::Malformed(s.to_owned());
    let mut parts = msg.splitn(3, |&b| b == 0);
    let (Some(z), Some(c), Some(p)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("PLAIN message needs two NUL separators"));
    };
    if p.contains(&0) {
        return Err(malformed("extra NUL in PLAIN message"));
    }
    if z.len() > MAX_FIELD || c.len() > MAX_FIELD || p.len() > MAX_FIELD {
        return Err(malformed("PLAIN field too long"));
    }
    let z = std::str::from_utf8(z).map_err(|_| malformed("authzid is not UTF-8"))?;
    let c = std::str::from_utf8(c).map_err(|_| malformed("authcid is not UTF-8"))?;
    let p = Zeroizing::new(
        std::str::from_utf8(p)
            .map_err(|_| malformed("password is not UTF-8"))?
            .to_owned(),
    );
    if c.is_empty() || p.is_empty() {
        return Err(malformed("empty authcid or password"));
    }
    // SASLprep where it succeeds, the same rule the store and the clients use; the
    // password is prepared on verification (ScramSecret::derive).
    let c = crypto::normalize(c);
    if c.is_empty() {
        return Err(malformed("empty authcid"));
    }
    Ok(((!z.is_empty()).then(|| z.to_owned()), c.into_owned(), p))
}

impl PlainServer {
    /// A PLAIN server.
    pub fn new(cfg: ServerMechanismConfig) -> Self {
        PlainServer {
            cfg,
            state: State::Start,
        }
    }

    fn on_message(&mut self, msg: &[u8]) -> ServerStep {
        match parse_message(msg) {
            Ok((authzid, authcid, password)) => {
                let username = authcid.clone();
                self.state = State::ExpectCredentials {
                    authcid,
                    authzid,
                    password,
                };
                ServerStep::NeedCredentials { username }
            }
            Err(e) => ServerStep::fail(e),
        }
    }
}

impl ServerMechanism for PlainServer {
    fn name(&self) -> Mechanism {
        Mechanism::Plain
    }

    fn start(&mut self, initial: Option<&[u8]>) -> ServerStep {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Start => match initial {
                Some(msg) => self.on_message(msg),
                None => {
                    self.state = State::ExpectMessage;
                    ServerStep::Challenge(Vec::new())
                }
            },
            _ => ServerStep::fail(ServerFailure::OutOfSequence("already started")),
        }
    }

    fn step(&mut self, response: &[u8]) -> ServerStep {
        match std::mem::replace(&mut self.state, State::Done) {
            State::ExpectMessage => self.on_message(response),
            _ => ServerStep::fail(ServerFailure::OutOfSequence("unexpected response")),
        }
    }

    fn derives_key(&self) -> bool {
        // The password is checked by deriving its salted form.
        matches!(self.state, State::ExpectCredentials { .. })
    }

    fn credentials(&mut self, found: Result<Option<StoredCredentials>, StoreError>) -> ServerStep {
        let State::ExpectCredentials {
            authcid,
            authzid,
            password,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return ServerStep::fail(ServerFailure::OutOfSequence("credentials not requested"));
        };
        let creds = match found {
            Err(_) => return ServerStep::fail(ServerFailure::Store),
            Ok(c) => c,
        };
        // Without a SCRAM secret to check the password against (no such
        // user, or none stored), check it against the decoy: the same
        // PBKDF2, the same answer as a wrong password. Computed in every
        // case so that its own cost tells nothing either.
        let decoy = self
            .cfg
            .decoys
            .scram(ScramHash::Sha256, &self.cfg.domain, &authcid);
        let real = creds.as_ref().and_then(|c| {
            c.scram_sha256
                .as_ref()
                .map(|s| (ScramHash::Sha256, s))
                .or_else(|| c.scram_sha1.as_ref().map(|s| (ScramHash::Sha1, s)))
        });
        let (hash, secret) = real.unwrap_or((ScramHash::Sha256, &decoy));
        let matched = secret.verify_password_cached(hash, &password, self.cfg.plain_cache.as_ref());
        let creds = match creds {
            Some(c) if matched && real.is_some() => c,
            _ => return ServerStep::fail(ServerFailure::BadCredentials),
        };
        if creds.disabled {
            return ServerStep::fail(ServerFailure::AccountDisabled);
        }
        if creds.expired {
            return ServerStep::fail(ServerFailure::CredentialsExpired);
        }
        match self.cfg.check_authzid(&authcid, authzid.as_deref()) {
            Ok(authzid) => ServerStep::Success {
                authcid,
                authzid,
                additional: None,
            },
            Err(e) => ServerStep::fail(e),
        }
    }
}
