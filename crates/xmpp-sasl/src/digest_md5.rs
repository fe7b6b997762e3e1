//! DIGEST-MD5 (RFC 2831; historic per RFC 6331), qop=auth, algorithm=md5-sess only.
//!
//! Decisions where the RFC leaves room (see the protocol notes §2):
//! - ISO-8859-1 rule **per field**: username, realm and password are each hashed as
//!   Latin-1 when all their characters fit, else as UTF-8. The server also accepts
//!   the other readings seen in the wild ([`crate::DigestSecret::alt_ha1`]).
//! - No realm in the challenge: the client sends no `realm` and hashes `""`
//!   (RFC 6120 §6.3.9, GNU SASL), so hashed and sent realm are identical.
//! - Several realms: the one equal to the domain (ASCII case-insensitive), else the first.

use std::borrow::Cow;

use crate::client::{ClientCredentials, ClientMechanism};
use md5::{Digest as _, Md5};

use crate::crypto::{self, md5};
use crate::directives::{self, push_quoted, Directive};
use crate::error::{ClientError, ServerFailure, StoreError};
use crate::mechanism::Mechanism;
use crate::mutual_auth::{MutualAuth, ProofFormat};
use crate::server::{ServerMechanism, ServerMechanismConfig, ServerStep};
use crate::store::StoredCredentials;
use zeroize::Zeroizing;

/// RFC 2831 §2.1.1: a digest-challenge is smaller than 2048 bytes.
pub const MAX_CHALLENGE: usize = 2048;
/// RFC 2831 §2.1.2: a digest-response is smaller than 4096 bytes.
pub const MAX_RESPONSE: usize = 4096;

/// What `response=` and `rspauth=` share (RFC 2831 §2.1.2.1, md5-sess,
/// qop=auth): the MD5 of `HEX(H(A1)):nonce:nc-value:cnonce:auth:` so far,
/// its first block hashed once for both; computed from `HEX(H(A1))` and
/// the nonces, so as secret as the session key.
#[derive(Clone)]
pub(crate) struct Kd {
    prefix: Md5,
}

impl Kd {
    /// `ha1` is the raw `H(user:realm:pass)`; `nonce`, `cnonce`, `authzid`
    /// are the unquoted, unescaped bytes.
    pub(crate) fn new(
        ha1: &[u8; 16],
        nonce: &[u8],
        cnonce: &[u8],
        nc: u32,
        authzid: Option<&[u8]>,
    ) -> Self {
        let a1 = Zeroizing::new(match authzid {
            Some(z) => md5(&[ha1, b":", nonce, b":", cnonce, b":", z]),
            None => md5(&[ha1, b":", nonce, b":", cnonce]),
        });
        let a1_hex = Zeroizing::new(hex_digest(&a1));
        let mut prefix = Md5::new();
        for part in [
            &a1_hex[..],
            b":",
            nonce,
            b":",
            &format_nc(nc),
            b":",
            cnonce,
            b":auth:",
        ] {
            prefix.update(part);
        }
        Kd { prefix }
    }

    /// `response=` (with `a2_prefix = b"AUTHENTICATE"`) or `rspauth=` (with
    /// `b""`): 32 lowercase hex digits.
    pub(crate) fn digest(&self, a2_prefix: &[u8], digest_uri: &[u8]) -> [u8; 32] {
        let a2 = md5(&[a2_prefix, b":", digest_uri]);
        let mut h = self.prefix.clone();
        h.update(hex_digest(&a2));
        hex_digest(&h.finalize().into())
    }
}

/// `response=` (with `a2_prefix = b"AUTHENTICATE"`) or `rspauth=` (with
/// `b""`), qop=auth: 32 lowercase hex digits. [`Kd`] computes both for the
/// price of one and a bit.
#[cfg(test)]
pub(crate) fn kd(
    ha1: &[u8; 16],
    nonce: &[u8],
    cnonce: &[u8],
    nc: u32,
    authzid: Option<&[u8]>,
    a2_prefix: &[u8],
    digest_uri: &[u8],
) -> [u8; 32] {
    let a1 = match authzid {
        Some(z) => md5(&[ha1, b":", nonce, b":", cnonce, b":", z]),
        None => md5(&[ha1, b":", nonce, b":", cnonce]),
    };
    let a2 = md5(&[a2_prefix, b":", digest_uri]);
    hex_digest(&md5(&[
        &hex_digest(&a1),
        b":",
        nonce,
        b":",
        &format_nc(nc),
        b":",
        cnonce,
        b":auth:",
        &hex_digest(&a2),
    ]))
}

/// `nc-value`: exactly 8 lowercase hex digits.
pub(crate) fn format_nc(nc: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    crypto::hex_into(&nc.to_be_bytes(), &mut out);
    out
}

/// An MD5 digest in lowercase hex.
fn hex_digest(d: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    crypto::hex_into(d, &mut out);
    out
}

fn is_hex32(v: &[u8]) -> bool {
    v.len() == 32 && v.iter().all(u8::is_ascii_hexdigit)
}

/// Collects directives, rejecting duplicates of the ones we use.
struct Fields<'a> {
    all: Vec<Directive<'a>>,
}

impl Fields<'_> {
    /// The single value of `name` (lowercase); `Err` if it occurs more than once.
    fn one(&self, name: &str) -> Result<Option<&[u8]>, String> {
        let mut it = self.all.iter().filter(|d| d.is(name));
        let first = it.next().map(|d| &*d.value);
        if it.next().is_some() {
            return Err(format!("duplicate {name}"));
        }
        Ok(first)
    }

    fn many<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> {
        self.all
            .iter()
            .filter(move |d| d.is(name))
            .map(|d| &*d.value)
    }
}

// ---------------------------------------------------------------- client

enum ClientState {
    ExpectChallenge,
    /// Our response is sent; the server's `rspauth` is next.
    Finish(MutualAuth),
    Failed,
}

/// DIGEST-MD5 client.
pub struct DigestMd5Client {
    creds: ClientCredentials,
    cnonce: String,
    state: ClientState,
}

impl DigestMd5Client {
    /// A client with a fresh CSPRNG cnonce.
    pub fn new(creds: ClientCredentials) -> Self {
        Self::with_cnonce(creds, crypto::random_nonce())
    }

    /// A client with a given cnonce (tests). It must be non-empty printable ASCII
    /// without `,`, `"`, `\`; otherwise [`respond`](ClientMechanism::respond) fails.
    pub fn with_cnonce(creds: ClientCredentials, cnonce: impl Into<String>) -> Self {
        DigestMd5Client {
            creds,
            cnonce: cnonce.into(),
            state: ClientState::ExpectChallenge,
        }
    }

    fn answer_challenge(&self, challenge: &[u8]) -> Result<(Vec<u8>, [u8; 32]), ClientError> {
        let malformed = |s: &str| ClientError::Malformed(s.to_owned());
        let protocol = |s: &str| ClientError::Protocol(s.to_owned());
        if challenge.len() >= MAX_CHALLENGE {
            return Err(malformed("challenge too long"));
        }
        if !crypto::valid_nonce(&self.cnonce) {
            return Err(ClientError::Credentials("invalid injected cnonce"));
        }
        let f = Fields {
            all: directives::parse(challenge).map_err(malformed)?,
        };
        if f.one("rspauth").map_err(|e| malformed(&e))?.is_some() {
            return Err(protocol("rspauth before our response"));
        }
        let nonce = f
            .one("nonce")
            .map_err(|e| malformed(&e))?
            .ok_or_else(|| protocol("no nonce"))?;
        if nonce.is_empty() {
            return Err(protocol("empty nonce"));
        }
        match f.one("algorithm").map_err(|e| malformed(&e))? {
            Some(a) if a.eq_ignore_ascii_case(b"md5-sess") => {}
            Some(_) => return Err(protocol("algorithm is not md5-sess")),
            None => return Err(protocol("no algorithm")),
        }
        let utf8 = match f.one("charset").map_err(|e| malformed(&e))? {
            Some(c) if c.eq_ignore_ascii_case(b"utf-8") => true,
            Some(_) => return Err(protocol("charset is not utf-8")),
            None => false,
        };
        if let Some(q) = f.one("qop").map_err(|e| malformed(&e))? {
            if !directives::split_list(q).any(|v| v.eq_ignore_ascii_case(b"auth")) {
                return Err(protocol("qop does not offer auth"));
            }
        }
        for single in ["maxbuf", "stale", "cipher"] {
            f.one(single).map_err(|e| malformed(&e))?;
        }
        // Realms as text (UTF-8 with charset, else ISO-8859-1), each checked;
        // the one equal to our host, else the first.
        let host = &self.creds.host;
        let mut realm: Option<Cow<'_, str>> = None;
        for r in f.many("realm") {
            let text = if utf8 {
                Cow::Borrowed(std::str::from_utf8(r).map_err(|_| malformed("realm is not UTF-8"))?)
            } else {
                crypto::from_latin1_cow(r)
            };
            match &realm {
                None => realm = Some(text),
                Some(first) if !first.eq_ignore_ascii_case(host) => {
                    if text.eq_ignore_ascii_case(host) {
                        realm = Some(text);
                    }
                }
                Some(_) => {}
            }
        }

        // Bytes hashed and bytes sent, per field.
        let r = realm.as_deref().unwrap_or("");
        let (user_hash, user_wire, realm_hash, realm_wire, pass_hash) = if utf8 {
            (
                crypto::latin1_or_utf8(&self.creds.username),
                Cow::Borrowed(self.creds.username.as_bytes()),
                crypto::latin1_or_utf8(r),
                Cow::Borrowed(r.as_bytes()),
                Zeroizing::new(crypto::latin1_or_utf8(&self.creds.password).into_owned()),
            )
        } else {
            let l = |s| {
                crypto::to_latin1_cow(s).ok_or(ClientError::Credentials(
                    "not representable in ISO-8859-1 and the server offered no charset=utf-8",
                ))
            };
            let u = l(&self.creds.username)?;
            let r = l(r)?;
            let p = Zeroizing::new(l(&self.creds.password)?.into_owned());
            (u.clone(), u, r.clone(), r, p)
        };
        let ha1 = Zeroizing::new(md5(&[&user_hash, b":", &realm_hash, b":", &pass_hash]));
        let (service, host) = (self.creds.service.as_bytes(), self.creds.host.as_bytes());
        let mut digest_uri = Vec::with_capacity(service.len() + 1 + host.len());
        digest_uri.extend_from_slice(service);
        digest_uri.push(b'/');
        digest_uri.extend_from_slice(host);
        let authzid = self.creds.effective_authzid();
        let cnonce = self.cnonce.as_bytes();
        let kd = Kd::new(&ha1, nonce, cnonce, 1, authzid.map(str::as_bytes));
        let response = kd.digest(b"AUTHENTICATE", &digest_uri);
        let rspauth = kd.digest(b"", &digest_uri);

        let mut out = Vec::with_capacity(256);
        if utf8 {
            out.extend_from_slice(b"charset=utf-8,");
        }
        out.extend_from_slice(b"username=");
        push_quoted(&mut out, &user_wire);
        if realm.is_some() {
            out.extend_from_slice(b",realm=");
            push_quoted(&mut out, &realm_wire);
        }
        out.extend_from_slice(b",nonce=");
        push_quoted(&mut out, nonce);
        out.extend_from_slice(b",cnonce=");
        push_quoted(&mut out, cnonce);
        out.extend_from_slice(b",nc=");
        out.extend_from_slice(&format_nc(1));
        out.extend_from_slice(b",qop=auth,digest-uri=");
        push_quoted(&mut out, &digest_uri);
        out.extend_from_slice(b",response=");
        out.extend_from_slice(&response);
        if let Some(z) = authzid {
            out.extend_from_slice(b",authzid=");
            push_quoted(&mut out, z.as_bytes());
        }
        Ok((out, rspauth))
    }
}

/// `rspauth=<32 hex digits>` (RFC 2831 §2.1.3), compared lowercased.
static RSPAUTH: ProofFormat = ProofFormat {
    extract: rspauth,
    wrong: "wrong rspauth",
    missing: "success without rspauth",
};

/// The `rspauth` value of a server message, lowercased.
fn rspauth(data: &[u8]) -> Result<Vec<u8>, ClientError> {
    if data.len() >= MAX_CHALLENGE {
        return Err(ClientError::MutualAuth("rspauth message too long"));
    }
    let f = Fields {
        all: directives::parse(data).map_err(|_| ClientError::MutualAuth("malformed rspauth"))?,
    };
    let got = f
        .one("rspauth")
        .map_err(|_| ClientError::MutualAuth("duplicate rspauth"))?
        .ok_or(ClientError::MutualAuth("no rspauth"))?;
    if !is_hex32(got) {
        return Err(ClientError::MutualAuth("malformed rspauth"));
    }
    Ok(got.to_ascii_lowercase())
}

impl ClientMechanism for DigestMd5Client {
    fn name(&self) -> Mechanism {
        Mechanism::DigestMd5
    }

    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        Ok(None)
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, ClientError> {
        match std::mem::replace(&mut self.state, ClientState::Failed) {
            ClientState::ExpectChallenge => {
                let (resp, expected) = self.answer_challenge(challenge)?;
                self.state = ClientState::Finish(MutualAuth::expect(&RSPAUTH, expected.to_vec()));
                Ok(resp)
            }
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
            ClientState::ExpectChallenge => {
                Err(ClientError::OutOfSequence("success before any challenge"))
            }
            ClientState::Failed => Err(ClientError::OutOfSequence("exchange already failed")),
        }
    }
}

// ---------------------------------------------------------------- server

struct Pending {
    username: String,
    realm: String,
    cnonce: Vec<u8>,
    digest_uri: Vec<u8>,
    response: [u8; 32],
    authzid: Option<String>,
}

enum ServerState {
    Start,
    ExpectResponse,
    ExpectCredentials(Box<Pending>),
    ExpectAck {
        authcid: String,
        authzid: Option<String>,
    },
    Done,
}

/// DIGEST-MD5 server.
pub struct DigestMd5Server {
    cfg: ServerMechanismConfig,
    nonce: String,
    state: ServerState,
}

impl DigestMd5Server {
    /// A server with a fresh CSPRNG nonce.
    pub fn new(cfg: ServerMechanismConfig) -> Self {
        Self::with_nonce(cfg, crypto::random_nonce())
    }

    /// A server with a given nonce (tests). It must be non-empty printable ASCII
    /// without `,`, `"`, `\`; otherwise [`start`](ServerMechanism::start) fails with
    /// `temporary-auth-failure`.
    pub fn with_nonce(cfg: ServerMechanismConfig, nonce: impl Into<String>) -> Self {
        DigestMd5Server {
            cfg,
            nonce: nonce.into(),
            state: ServerState::Start,
        }
    }

    fn challenge(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        if !self.cfg.realm.is_empty() {
            out.extend_from_slice(b"realm=");
            push_quoted(&mut out, self.cfg.realm.as_bytes());
            out.push(b',');
        }
        out.extend_from_slice(b"nonce=");
        push_quoted(&mut out, self.nonce.as_bytes());
        out.extend_from_slice(b",qop=\"auth\",charset=utf-8,algorithm=md5-sess");
        out
    }

    fn parse_response(&self, data: &[u8]) -> Result<Pending, ServerFailure> {
        let malformed = |s: &str| ServerFailure::Malformed(s.to_owned());
        if data.len() >= MAX_RESPONSE {
            return Err(malformed("response too long"));
        }
        let f = Fields {
            all: directives::parse(data).map_err(malformed)?,
        };
        let one = |n: &str| f.one(n).map_err(|e| malformed(&e));
        let req = |n: &'static str| {
            one(n)?.ok_or_else(|| ServerFailure::Malformed(format!("missing {n}")))
        };
        let utf8 = match one("charset")? {
            Some(c) if c.eq_ignore_ascii_case(b"utf-8") => true,
            Some(_) => return Err(malformed("charset is not utf-8")),
            None => false,
        };
        // Without charset the text is ISO-8859-1, but some clients (Cyrus) send UTF-8
        // without saying so: take valid UTF-8 as UTF-8.
        let text = |v: &[u8]| -> Result<String, ServerFailure> {
            match String::from_utf8(v.to_vec()) {
                Ok(s) => Ok(s),
                Err(_) if !utf8 => Ok(crypto::from_latin1(v)),
                Err(_) => Err(malformed("invalid UTF-8")),
            }
        };
        let username = text(req("username")?)?;
        if username.is_empty() {
            return Err(malformed("empty username"));
        }
        let realm = one("realm")?.map(text).transpose()?;
        let nonce = req("nonce")?;
        let cnonce = req("cnonce")?;
        if cnonce.is_empty() {
            return Err(malformed("empty cnonce"));
        }
        let nc = req("nc")?;
        if nc.len() != 8 || !nc.iter().all(u8::is_ascii_hexdigit) {
            return Err(malformed("nc is not 8 hex digits"));
        }
        let response = req("response")?;
        if !is_hex32(response) {
            return Err(malformed("response is not 32 hex digits"));
        }
        let digest_uri = req("digest-uri")?;
        let qop = one("qop")?;
        let authzid = one("authzid")?.map(text).transpose()?;
        for single in ["maxbuf", "cipher"] {
            one(single)?;
        }

        // Semantics (after syntax, so that a malformed message is always reported as such).
        if !crypto::ct_eq(nonce, self.nonce.as_bytes()) {
            return Err(ServerFailure::Protocol("nonce mismatch"));
        }
        if nc != b"00000001" {
            return Err(ServerFailure::Protocol("nc must be 00000001"));
        }
        if let Some(q) = qop {
            if !q.eq_ignore_ascii_case(b"auth") {
                return Err(ServerFailure::Protocol("qop must be auth"));
            }
        }
        if !self.digest_uri_ok(digest_uri) {
            return Err(ServerFailure::Protocol("wrong digest-uri"));
        }
        let realm = realm.unwrap_or_default();
        let realm_ok = realm.is_empty()
            || realm == self.cfg.realm
            || (self.cfg.realm.is_empty() && realm.eq_ignore_ascii_case(&self.cfg.domain));
        if !realm_ok {
            return Err(ServerFailure::Protocol("realm not offered"));
        }
        let mut resp = [0u8; 32];
        resp.copy_from_slice(&response.to_ascii_lowercase());
        Ok(Pending {
            username,
            realm,
            cnonce: cnonce.to_vec(),
            digest_uri: digest_uri.to_vec(),
            response: resp,
            authzid: authzid.filter(|a| !a.is_empty()),
        })
    }

    /// `service/host` or `service/host/serv-name`, host = our domain (case-insensitive).
    fn digest_uri_ok(&self, uri: &[u8]) -> bool {
        let mut parts = uri.split(|&b| b == b'/');
        let service = parts.next().unwrap_or_default();
        let host = parts.next().unwrap_or_default();
        let serv_name = parts.next();
        parts.next().is_none()
            && service.eq_ignore_ascii_case(self.cfg.service.as_bytes())
            && host.eq_ignore_ascii_case(self.cfg.domain.as_bytes())
            && serv_name.is_none_or(|s| s.eq_ignore_ascii_case(self.cfg.domain.as_bytes()))
    }

    fn verify(
        &mut self,
        p: &Pending,
        found: Result<Option<StoredCredentials>, StoreError>,
    ) -> ServerStep {
        let creds = match found {
            Err(_) => return ServerStep::fail(ServerFailure::Store),
            Ok(c) => c,
        };
        // Without a secret for this realm (no such user, or none stored),
        // the response is checked against the decoy: the same hashes, the
        // same answer as a wrong password. Computed in every case so that
        // its own cost tells nothing either.
        let decoy = self
            .cfg
            .decoys
            .digest(&self.cfg.domain, &p.username, &p.realm);
        let real = creds.as_ref().and_then(|c| c.digest_for_realm(&p.realm));
        let known = real.is_some();
        let secret = real.unwrap_or(&decoy);
        let nonce = self.nonce.as_bytes();
        let authzid = p.authzid.as_deref().map(str::as_bytes);
        let mut matched = None;
        for ha1 in std::iter::once(&secret.ha1).chain(secret.alt_ha1.iter()) {
            let kd = Kd::new(ha1, nonce, &p.cnonce, 1, authzid);
            let expected = kd.digest(b"AUTHENTICATE", &p.digest_uri);
            // Keep comparing after a match so timing does not depend on which reading matched.
            if crypto::ct_eq(&expected, &p.response) && matched.is_none() {
                matched = Some(kd);
            }
        }
        let (Some(kd), Some(creds)) = (matched.filter(|_| known), creds) else {
            return ServerStep::fail(ServerFailure::BadCredentials);
        };
        if creds.disabled {
            return ServerStep::fail(ServerFailure::AccountDisabled);
        }
        if creds.expired {
            return ServerStep::fail(ServerFailure::CredentialsExpired);
        }
        let authzid = match self.cfg.check_authzid(&p.username, p.authzid.as_deref()) {
            Ok(a) => a,
            Err(e) => return ServerStep::fail(e),
        };
        let rspauth = kd.digest(b"", &p.digest_uri);
        let mut data = Vec::with_capacity(8 + rspauth.len());
        data.extend_from_slice(b"rspauth=");
        data.extend_from_slice(&rspauth);
        if self.cfg.rspauth_in_success {
            self.state = ServerState::Done;
            ServerStep::Success {
                authcid: p.username.clone(),
                authzid,
                additional: Some(data),
            }
        } else {
            self.state = ServerState::ExpectAck {
                authcid: p.username.clone(),
                authzid,
            };
            ServerStep::Challenge(data)
        }
    }
}

impl ServerMechanism for DigestMd5Server {
    fn name(&self) -> Mechanism {
        Mechanism::DigestMd5
    }

    fn start(&mut self, initial: Option<&[u8]>) -> ServerStep {
        if !matches!(self.state, ServerState::Start) {
            self.state = ServerState::Done;
            return ServerStep::fail(ServerFailure::OutOfSequence("already started"));
        }
        // DIGEST-MD5 is server-first: an initial response is a protocol error
        // (an empty one, `=`, is tolerated as "none").
        if initial.is_some_and(|i| !i.is_empty()) {
            self.state = ServerState::Done;
            return ServerStep::fail(ServerFailure::OutOfSequence(
                "DIGEST-MD5 has no initial response",
            ));
        }
        if !crypto::valid_nonce(&self.nonce) {
            self.state = ServerState::Done;
            return ServerStep::fail(ServerFailure::Store);
        }
        self.state = ServerState::ExpectResponse;
        ServerStep::Challenge(self.challenge())
    }

    fn step(&mut self, response: &[u8]) -> ServerStep {
        // Whatever happens, the nonce is spent: a second response never reaches verification.
        match std::mem::replace(&mut self.state, ServerState::Done) {
            ServerState::ExpectResponse => match self.parse_response(response) {
                Ok(p) => {
                    let username = p.username.clone();
                    self.state = ServerState::ExpectCredentials(Box::new(p));
                    ServerStep::NeedCredentials { username }
                }
                Err(e) => ServerStep::fail(e),
            },
            ServerState::ExpectAck { authcid, authzid } => {
                if response.iter().all(|b| b.is_ascii_whitespace()) {
                    ServerStep::Success {
                        authcid,
                        authzid,
                        additional: None,
                    }
                } else {
                    ServerStep::fail(ServerFailure::OutOfSequence(
                        "expected an empty response after rspauth",
                    ))
                }
            }
            _ => ServerStep::fail(ServerFailure::OutOfSequence("unexpected response")),
        }
    }

    fn credentials(&mut self, found: Result<Option<StoredCredentials>, StoreError>) -> ServerStep {
        match std::mem::replace(&mut self.state, ServerState::Done) {
            ServerState::ExpectCredentials(p) => self.verify(&p, found),
            _ => ServerStep::fail(ServerFailure::OutOfSequence("credentials not requested")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefix_gives_the_same_digests() {
        let ha1 = [7u8; 16];
        for authzid in [None, Some(&b"romeo@example.com"[..])] {
            for (nonce, cnonce) in [(&b"n"[..], &b"c"[..]), (&[b'x'; 40][..], &[b'y'; 70][..])] {
                let shared = Kd::new(&ha1, nonce, cnonce, 1, authzid);
                for a2 in [&b"AUTHENTICATE"[..], b""] {
                    assert_eq!(
                        shared.digest(a2, b"xmpp/example.com"),
                        kd(&ha1, nonce, cnonce, 1, authzid, a2, b"xmpp/example.com")
                    );
                }
            }
        }
    }
}
