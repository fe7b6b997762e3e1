//! The SCRAM server: the GS2 header and its channel-binding policy,
//! client-first, the stored secret, client-final.

use zeroize::Zeroizing;

use crate::channel_binding::ChannelBinding;
use crate::crypto::{self, b64, b64_decode, ScramHash};
use crate::error::{ServerFailure, StoreError};
use crate::mechanism::Mechanism;
use crate::server::{ServerMechanism, ServerMechanismConfig, ServerStep};
use crate::store::StoredCredentials;

use super::{attrs, decode_saslname, valid_cb_name, valid_scram_nonce, xor, MAX_MESSAGE};

/// A parsed client-first-message.
struct ClientFirst {
    /// What `c=` must decode to: `gs2-header || cbind-data`.
    cbind_input: Vec<u8>,
    bare: String,
    username: String,
    authzid: Option<String>,
    nonce: String,
}

/// The GS2 channel-binding flag.
#[derive(Debug, PartialEq, Eq)]
enum Gs2Flag<'a> {
    /// `n`: the client cannot bind.
    N,
    /// `y`: the client can bind but believes the server cannot.
    Y,
    /// `p=<cb-name>`: the client binds to this type.
    P(&'a str),
}

/// Parses the GS2 header (syntax only); returns (header incl. trailing comma,
/// flag, authzid, rest). The binding policy is [`server_cbind_input`]'s.
fn parse_gs2(msg: &str) -> Result<(&str, Gs2Flag<'_>, Option<String>, &str), ServerFailure> {
    let malformed = |s: &str| ServerFailure::Malformed(s.to_owned());
    let (flag, rest) = msg
        .split_once(',')
        .ok_or_else(|| malformed("no GS2 header"))?;
    let parsed = match flag {
        "n" => Gs2Flag::N,
        "y" => Gs2Flag::Y,
        f => match f.strip_prefix("p=") {
            Some(name) if valid_cb_name(name) => Gs2Flag::P(name),
            Some(_) => return Err(malformed("bad channel binding name")),
            None => return Err(malformed("bad GS2 channel binding flag")),
        },
    };
    let (a, bare) = rest
        .split_once(',')
        .ok_or_else(|| malformed("no GS2 header"))?;
    let authzid = if a.is_empty() {
        None
    } else {
        let z = a
            .strip_prefix("a=")
            .and_then(decode_saslname)
            .ok_or_else(|| malformed("bad authzid"))?;
        Some(z)
    };
    let header_len = flag.len() + 1 + a.len() + 1;
    Ok((&msg[..header_len], parsed, authzid, bare))
}

/// Applies the channel-binding policy (RFC 5802 §6; table in the module docs) and
/// returns what `c=` must decode to. `bindings` = what this connection can bind to
/// (non-empty means `-PLUS` was offered).
fn server_cbind_input(
    plus: bool,
    flag: &Gs2Flag<'_>,
    header: &str,
    bindings: &[ChannelBinding],
) -> Result<Vec<u8>, ServerFailure> {
    let mut input = header.as_bytes().to_vec();
    match (plus, flag) {
        (false, Gs2Flag::N) => {}
        // The client could bind but saw no -PLUS: true only if we offered none.
        (false, Gs2Flag::Y) if bindings.is_empty() => {}
        (false, Gs2Flag::Y) => {
            return Err(ServerFailure::Protocol(
                "client saw no -PLUS mechanism, but one was offered (downgrade)",
            ))
        }
        (false, Gs2Flag::P(_)) => {
            return Err(ServerFailure::Protocol(
                "channel binding requested with a non-PLUS mechanism",
            ))
        }
        (true, Gs2Flag::N | Gs2Flag::Y) => {
            return Err(ServerFailure::Protocol(
                "-PLUS mechanism without channel binding",
            ))
        }
        (true, Gs2Flag::P(name)) => {
            let cb = bindings
                .iter()
                .find(|cb| cb.kind.as_str() == *name)
                .ok_or(ServerFailure::Protocol("unsupported channel binding type"))?;
            input.extend_from_slice(&cb.data);
        }
    }
    Ok(input)
}

fn parse_client_first(
    msg: &[u8],
    plus: bool,
    bindings: &[ChannelBinding],
) -> Result<ClientFirst, ServerFailure> {
    let malformed = |s: &str| ServerFailure::Malformed(s.to_owned());
    if msg.len() > MAX_MESSAGE {
        return Err(malformed("client-first too long"));
    }
    let msg = std::str::from_utf8(msg).map_err(|_| malformed("not UTF-8"))?;
    let (gs2, flag, authzid, bare) = parse_gs2(msg)?;
    let mut it = attrs(bare);
    let username = match it.next().flatten() {
        Some((b'n', n)) => decode_saslname(n).ok_or_else(|| malformed("bad username"))?,
        Some((b'm', _)) => return Err(ServerFailure::Protocol("unsupported mandatory extension")),
        _ => return Err(malformed("expected n=")),
    };
    let nonce = match it.next().flatten() {
        Some((b'r', r)) if valid_scram_nonce(r) => r.to_owned(),
        _ => return Err(malformed("expected r=")),
    };
    if it.any(|a| a.is_none()) {
        return Err(malformed("bad attribute"));
    }
    let username = crypto::normalize(&username).into_owned();
    if username.is_empty() {
        return Err(malformed("empty username"));
    }
    // Policy after syntax: a malformed message is malformed whatever its flag.
    let cbind_input = server_cbind_input(plus, &flag, gs2, bindings)?;
    Ok(ClientFirst {
        cbind_input,
        bare: bare.to_owned(),
        username,
        authzid: authzid.filter(|a| !a.is_empty()),
        nonce,
    })
}

struct Exchange {
    first: ClientFirst,
    server_first: String,
    nonce: String,
    /// StoredKey and ServerKey: the account's, or the decoy's.
    stored_key: Vec<u8>,
    server_key: Zeroizing<Vec<u8>>,
    /// `false` when verifying against the decoy (no such user, or no secret
    /// for this hash): the exchange runs to the proof and fails there, as
    /// for a wrong password.
    known: bool,
    disabled: bool,
    expired: bool,
}

enum ServerState {
    Start,
    ExpectClientFirst,
    ExpectCredentials(ClientFirst),
    ExpectClientFinal(Box<Exchange>),
    Done,
}

/// SCRAM server (`SCRAM-SHA-*`, or `SCRAM-SHA-*-PLUS` via [`ScramServer::new_plus`]).
///
/// A non-PLUS server whose config lists channel bindings (so `-PLUS` was offered)
/// refuses the `y` flag: that is the downgrade protection of RFC 5802 §6.
pub struct ScramServer {
    hash: ScramHash,
    plus: bool,
    cfg: ServerMechanismConfig,
    nonce: String,
    state: ServerState,
}

impl ScramServer {
    /// A server with a fresh CSPRNG nonce part.
    pub fn new(hash: ScramHash, cfg: ServerMechanismConfig) -> Self {
        Self::with_nonce(hash, cfg, crypto::random_nonce())
    }

    /// A server with a given nonce part (appended to the client's nonce; tests).
    pub fn with_nonce(
        hash: ScramHash,
        cfg: ServerMechanismConfig,
        nonce: impl Into<String>,
    ) -> Self {
        ScramServer {
            hash,
            plus: false,
            cfg,
            nonce: nonce.into(),
            state: ServerState::Start,
        }
    }

    /// A `-PLUS` server with a fresh CSPRNG nonce part; `None` when
    /// `cfg.channel_bindings` is empty (nothing to bind to).
    pub fn new_plus(hash: ScramHash, cfg: ServerMechanismConfig) -> Option<Self> {
        Self::with_nonce_plus(hash, cfg, crypto::random_nonce())
    }

    /// A `-PLUS` server with a given nonce part (tests); `None` when
    /// `cfg.channel_bindings` is empty.
    pub fn with_nonce_plus(
        hash: ScramHash,
        cfg: ServerMechanismConfig,
        nonce: impl Into<String>,
    ) -> Option<Self> {
        if cfg.channel_bindings.is_empty() {
            return None;
        }
        let mut s = Self::with_nonce(hash, cfg, nonce);
        s.plus = true;
        Some(s)
    }

    fn on_client_first(&mut self, msg: &[u8]) -> ServerStep {
        if !valid_scram_nonce(&self.nonce) {
            return ServerStep::fail(ServerFailure::Store);
        }
        match parse_client_first(msg, self.plus, &self.cfg.channel_bindings) {
            Ok(first) => {
                let username = first.username.clone();
                self.state = ServerState::ExpectCredentials(first);
                ServerStep::NeedCredentials { username }
            }
            Err(e) => ServerStep::fail(e),
        }
    }

    fn on_credentials(
        &mut self,
        first: ClientFirst,
        found: Result<Option<StoredCredentials>, StoreError>,
    ) -> ServerStep {
        let creds = match found {
            Err(_) => return ServerStep::fail(ServerFailure::Store),
            Ok(c) => c,
        };
        // The decoy is computed in every case, so that its cost does not
        // tell a real account from a missing one.
        let decoy = self
            .cfg
            .decoys
            .scram(self.hash, &self.cfg.domain, &first.username);
        let real = creds.as_ref().and_then(|c| c.scram(self.hash));
        let known = real.is_some();
        let secret = real.unwrap_or(&decoy);
        let (disabled, expired) = match &creds {
            Some(c) if known => (c.disabled, c.expired),
            _ => (false, false),
        };
        let (salt, iterations) = (&secret.salt, secret.iterations);
        let nonce = format!("{}{}", first.nonce, self.nonce);
        let mut server_first = format!("r={nonce},s={},i={iterations}", b64(salt));
        // XEP-0474: an extension after i=; it is part of AuthMessage, so the
        // proofs cover it.
        if let Some(ssdp) = &self.cfg.ssdp {
            server_first.push_str(",h=");
            server_first.push_str(&b64(&ssdp.digest(self.hash)));
        }
        let out = server_first.clone().into_bytes();
        self.state = ServerState::ExpectClientFinal(Box::new(Exchange {
            first,
            server_first,
            nonce,
            stored_key: secret.stored_key.clone(),
            server_key: Zeroizing::new(secret.server_key.clone()),
            known,
            disabled,
            expired,
        }));
        ServerStep::Challenge(out)
    }

    fn on_client_final(&mut self, ex: &Exchange, msg: &[u8]) -> ServerStep {
        let malformed = |s: &str| ServerStep::fail(ServerFailure::Malformed(s.to_owned()));
        if msg.len() > MAX_MESSAGE {
            return malformed("client-final too long");
        }
        let Ok(msg) = std::str::from_utf8(msg) else {
            return malformed("not UTF-8");
        };
        let Some((without_proof, proof)) = msg.rsplit_once(",p=") else {
            return malformed("no proof");
        };
        let mut it = attrs(without_proof);
        let c = match it.next().flatten() {
            Some((b'c', c)) => c,
            _ => return malformed("expected c="),
        };
        let r = match it.next().flatten() {
            Some((b'r', r)) => r,
            _ => return malformed("expected r="),
        };
        if it.any(|a| a.is_none()) {
            return malformed("bad attribute");
        }
        let Some(cbind) = b64_decode(c.as_bytes()) else {
            return malformed("channel binding is not base64");
        };
        let Some(proof) = b64_decode(proof.as_bytes()) else {
            return malformed("proof is not base64");
        };
        if proof.len() != self.hash.output_len() {
            return malformed("proof has the wrong length");
        }
        if !crypto::ct_eq(&cbind, &ex.first.cbind_input) {
            return ServerStep::fail(ServerFailure::Protocol("channel binding mismatch"));
        }
        if !crypto::ct_eq(r.as_bytes(), ex.nonce.as_bytes()) {
            return ServerStep::fail(ServerFailure::Protocol("nonce mismatch"));
        }
        let (stored_key, server_key) = (&ex.stored_key, &ex.server_key);
        let auth_message = format!("{},{},{without_proof}", ex.first.bare, ex.server_first);
        let client_sig = self.hash.hmac(stored_key, auth_message.as_bytes());
        let client_key = xor(&proof, &client_sig);
        // `&`, not `&&`: the proof is checked against the decoy too.
        if !(crypto::ct_eq(&self.hash.hash(&client_key), stored_key) & ex.known) {
            return ServerStep::fail(ServerFailure::BadCredentials);
        }
        if ex.disabled {
            return ServerStep::fail(ServerFailure::AccountDisabled);
        }
        if ex.expired {
            return ServerStep::fail(ServerFailure::CredentialsExpired);
        }
        let authzid = match self
            .cfg
            .check_authzid(&ex.first.username, ex.first.authzid.as_deref())
        {
            Ok(a) => a,
            Err(e) => return ServerStep::fail(e),
        };
        let v = self.hash.hmac(server_key, auth_message.as_bytes());
        ServerStep::Success {
            authcid: ex.first.username.clone(),
            authzid,
            additional: Some(format!("v={}", b64(&v)).into_bytes()),
        }
    }
}

impl ServerMechanism for ScramServer {
    fn name(&self) -> Mechanism {
        if self.plus {
            self.hash.plus_mechanism()
        } else {
            self.hash.mechanism()
        }
    }

    fn start(&mut self, initial: Option<&[u8]>) -> ServerStep {
        match std::mem::replace(&mut self.state, ServerState::Done) {
            ServerState::Start => match initial {
                Some(msg) => self.on_client_first(msg),
                None => {
                    self.state = ServerState::ExpectClientFirst;
                    ServerStep::Challenge(Vec::new())
                }
            },
            _ => ServerStep::fail(ServerFailure::OutOfSequence("already started")),
        }
    }

    fn step(&mut self, response: &[u8]) -> ServerStep {
        match std::mem::replace(&mut self.state, ServerState::Done) {
            ServerState::ExpectClientFirst => self.on_client_first(response),
            ServerState::ExpectClientFinal(ex) => self.on_client_final(&ex, response),
            _ => ServerStep::fail(ServerFailure::OutOfSequence("unexpected response")),
        }
    }

    fn credentials(&mut self, found: Result<Option<StoredCredentials>, StoreError>) -> ServerStep {
        match std::mem::replace(&mut self.state, ServerState::Done) {
            ServerState::ExpectCredentials(first) => self.on_credentials(first, found),
            _ => ServerStep::fail(ServerFailure::OutOfSequence("credentials not requested")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scram::scramp;

    /// The server half of the scramp `-PLUS` vectors (see `scramp::PLUS`).
    #[test]
    fn scramp_plus_vectors() {
        for (hash, cnonce, snonce, salt_b64, cfinal, sfinal) in scramp::PLUS {
            let server_first = format!("r={cnonce}{snonce},s={salt_b64},i=4096");
            let salt = b64_decode(salt_b64.as_bytes()).unwrap();
            let mut s =
                ScramServer::with_nonce(hash, ServerMechanismConfig::new("example.com"), snonce);
            s.state = ServerState::ExpectCredentials(ClientFirst {
                cbind_input: scramp::CBIND_INPUT.to_vec(),
                bare: format!("n=user,r={cnonce}"),
                username: "user".into(),
                authzid: None,
                nonce: cnonce.into(),
            });
            let sc = StoredCredentials::derive_with("user", "pencil", &[], &salt, &salt, 4096);
            let ServerStep::Challenge(sf) = s.credentials(Ok(Some(sc))) else {
                panic!()
            };
            assert_eq!(sf, server_first.as_bytes());
            match s.step(cfinal.as_bytes()) {
                ServerStep::Success { additional, .. } => {
                    assert_eq!(additional.unwrap(), sfinal.as_bytes())
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn gs2_parsing() {
        let (h, f, z, rest) = parse_gs2("n,,n=user,r=x").unwrap();
        assert_eq!((h, f, z, rest), ("n,,", Gs2Flag::N, None, "n=user,r=x"));
        let (h, f, z, _) = parse_gs2("y,a=a=2Cb,n=u,r=x").unwrap();
        assert_eq!(
            (h, f, z.as_deref()),
            ("y,a=a=2Cb,", Gs2Flag::Y, Some("a,b"))
        );
        let (h, f, _, _) = parse_gs2("p=tls-unique,,n=u,r=x").unwrap();
        assert_eq!((h, f), ("p=tls-unique,,", Gs2Flag::P("tls-unique")));
        for bad in ["p=,,n=u", "p=a_b,,n=u", "p=é,,n=u", "P=x,,n=u"] {
            assert!(
                matches!(parse_gs2(bad), Err(ServerFailure::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_gs2("x,,n=u"),
            Err(ServerFailure::Malformed(_))
        ));
        assert!(matches!(
            parse_gs2("n,b=c,n=u"),
            Err(ServerFailure::Malformed(_))
        ));
    }
}
