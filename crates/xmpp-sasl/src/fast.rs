//! FAST tokens (XEP-0484) and the HT mechanisms that prove them
//! (draft-schmaus-kitten-sasl-ht): `HT-SHA-256-{NONE,UNIQ,ENDP,EXPR}`.
//!
//! The client's initial response is `authcid ‖ 0x00 ‖ HMAC-SHA-256(token,
//! "Initiator" ‖ cb-data)`; the server answers with additional data
//! `HMAC-SHA-256(token, "Responder" ‖ cb-data)`, which the client checks. The
//! key is the token string as the server sent it; `cb-data` is empty for
//! `NONE` and the channel-binding data of the type in the name otherwise.
//!
//! A token is a bearer secret the server must keep in usable form (it is the
//! HMAC key), so a [`TokenStore`] holds it as issued: unlike a password, it
//! cannot be stored hashed. It is bound to a user, a user-agent id and the
//! mechanism it was requested for, expires, and is revoked with the account's
//! password.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::client::ClientMechanism;
use crate::crypto::{self, ScramHash};
use crate::error::{ClientError, ServerFailure, StoreError};
use crate::mechanism::Mechanism;

/// Largest initial response accepted: a username and a 32-byte MAC.
const MAX_INITIAL: usize = 1024 + 1 + 32;
/// HMAC-SHA-256 output.
const MAC_LEN: usize = 32;

fn mac(token: &[u8], label: &[u8], cb: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(label.len() + cb.len());
    data.extend_from_slice(label);
    data.extend_from_slice(cb);
    ScramHash::Sha256.hmac(token, &data)
}

/// The client side of an `HT-*` mechanism: proves a token, then checks the
/// server's proof.
///
/// ```
/// use xmpp_sasl::{ClientMechanism, HtClient, Mechanism};
///
/// // XEP-0484's example token, no channel binding.
/// let token = "WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm";
/// let mut ht = HtClient::new(Mechanism::HtSha256None, "user", token, None).unwrap();
/// let ir = ht.initial_response().unwrap().unwrap();
/// assert!(ir.starts_with(b"user\0"));
/// assert_eq!(ir.len(), 5 + 32);
/// ```
pub struct HtClient {
    mechanism: Mechanism,
    authcid: String,
    token: Zeroizing<String>,
    cb: Vec<u8>,
    sent: bool,
    verified: bool,
}

impl HtClient {
    /// A token proof for `authcid` (the localpart). `cb_data` is the
    /// channel-binding data of the type the mechanism names: required for
    /// the bound variants, refused for `HT-SHA-256-NONE`.
    pub fn new(
        mechanism: Mechanism,
        authcid: &str,
        token: &str,
        cb_data: Option<Vec<u8>>,
    ) -> Result<Self, ClientError> {
        if !mechanism.is_fast() {
            return Err(ClientError::Credentials("not a FAST token mechanism"));
        }
        let cb = match (mechanism.fast_binding(), cb_data) {
            (None, None) => Vec::new(),
            (Some(_), Some(cb)) if !cb.is_empty() => cb,
            (Some(_), _) => {
                return Err(ClientError::Credentials(
                    "this HT mechanism needs channel-binding data",
                ))
            }
            (None, Some(_)) => {
                return Err(ClientError::Credentials(
                    "HT-SHA-256-NONE takes no channel-binding data",
                ))
            }
        };
        if authcid.is_empty() || authcid.contains('\0') || token.is_empty() {
            return Err(ClientError::Credentials("empty username or token"));
        }
        Ok(HtClient {
            mechanism,
            authcid: authcid.to_owned(),
            token: Zeroizing::new(token.to_owned()),
            cb,
            sent: false,
            verified: false,
        })
    }
}

impl ClientMechanism for HtClient {
    fn name(&self) -> Mechanism {
        self.mechanism
    }

    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        if self.sent {
            return Err(ClientError::OutOfSequence("initial response sent twice"));
        }
        self.sent = true;
        let mut out = Vec::with_capacity(self.authcid.len() + 1 + MAC_LEN);
        out.extend_from_slice(self.authcid.as_bytes());
        out.push(0);
        out.extend_from_slice(&mac(self.token.as_bytes(), b"Initiator", &self.cb));
        Ok(Some(out))
    }

    fn respond(&mut self, _challenge: &[u8]) -> Result<Vec<u8>, ClientError> {
        // HT is one message each way: the server's proof comes with success.
        Err(ClientError::OutOfSequence("HT has no challenges"))
    }

    fn success(&mut self, additional: Option<&[u8]>) -> Result<(), ClientError> {
        if !self.sent || self.verified {
            return Err(ClientError::OutOfSequence("success out of order"));
        }
        let expected = mac(self.token.as_bytes(), b"Responder", &self.cb);
        match additional {
            Some(d) if crypto::ct_eq(d, &expected) => {
                self.verified = true;
                Ok(())
            }
            Some(_) => Err(ClientError::MutualAuth(
                "the server's HT proof does not match the token",
            )),
            None => Err(ClientError::MutualAuth(
                "the server sent no HT proof with its success",
            )),
        }
    }
}

impl fmt::Debug for HtClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HtClient")
            .field("mechanism", &self.mechanism)
            .field("authcid", &self.authcid)
            .finish_non_exhaustive()
    }
}

/// The server side of an `HT-*` mechanism, in two steps: [`HtServer::start`]
/// reads who claims a token, the caller fetches that user's tokens, and
/// [`HtServer::verify`] finds the one the proof was made with.
pub struct HtServer {
    mechanism: Mechanism,
    cb: Vec<u8>,
    authcid: String,
    proof: Vec<u8>,
}

/// A token proof that matched: which stored token, and the server's proof
/// to send as SASL2 additional data.
#[derive(Debug)]
pub struct HtVerified {
    /// The index of the matching token in the slice given to
    /// [`HtServer::verify`].
    pub index: usize,
    /// `HMAC(token, "Responder" ‖ cb-data)`.
    pub additional: Vec<u8>,
}

impl HtServer {
    /// Parses the initial response of `mechanism` on a stream whose
    /// channel-binding data for the mechanism's type is `cb_data` (`None`
    /// for `HT-SHA-256-NONE`, or when the stream has none: then a bound
    /// mechanism fails).
    pub fn start(
        mechanism: Mechanism,
        cb_data: Option<&[u8]>,
        initial: Option<&[u8]>,
    ) -> Result<Self, ServerFailure> {
        if !mechanism.is_fast() {
            return Err(ServerFailure::InvalidMechanism);
        }
        let cb = match (mechanism.fast_binding(), cb_data) {
            (None, _) => Vec::new(),
            (Some(_), Some(cb)) if !cb.is_empty() => cb.to_vec(),
            (Some(_), _) => return Err(ServerFailure::InvalidMechanism),
        };
        let initial = initial.ok_or(ServerFailure::Malformed(
            "HT needs an initial response".to_owned(),
        ))?;
        if initial.len() > MAX_INITIAL {
            return Err(ServerFailure::Malformed(
                "initial response too long".to_owned(),
            ));
        }
        let nul = initial
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| ServerFailure::Malformed("no NUL after the username".to_owned()))?;
        let authcid = std::str::from_utf8(&initial[..nul])
            .map_err(|_| ServerFailure::Malformed("username is not UTF-8".to_owned()))?;
        let proof = &initial[nul + 1..];
        if authcid.is_empty() || proof.len() != MAC_LEN {
            return Err(ServerFailure::Malformed(
                "expected username, NUL and a 32-byte HMAC".to_owned(),
            ));
        }
        Ok(HtServer {
            mechanism,
            cb,
            authcid: authcid.to_owned(),
            proof: proof.to_vec(),
        })
    }

    /// The mechanism.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The authentication identity the client claims (a localpart).
    pub fn authcid(&self) -> &str {
        &self.authcid
    }

    /// Checks the proof against `tokens` (every token of the user and user
    /// agent): the first one issued for this mechanism, unexpired at `now`,
    /// whose HMAC matches. Every candidate is compared in constant time.
    pub fn verify(
        &self,
        tokens: &[FastToken],
        now: SystemTime,
    ) -> Result<HtVerified, ServerFailure> {
        let mut found = None;
        for (index, token) in tokens.iter().enumerate() {
            if token.mechanism != self.mechanism || token.expires <= now {
                continue;
            }
            let expected = mac(token.secret.as_bytes(), b"Initiator", &self.cb);
            if crypto::ct_eq(&expected, &self.proof) && found.is_none() {
                found = Some(index);
            }
        }
        let index = found.ok_or(ServerFailure::BadCredentials)?;
        let additional = mac(tokens[index].secret.as_bytes(), b"Responder", &self.cb);
        Ok(HtVerified { index, additional })
    }
}

impl fmt::Debug for HtServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HtServer")
            .field("mechanism", &self.mechanism)
            .field("authcid", &self.authcid)
            .finish_non_exhaustive()
    }
}

/// A FAST token as the server keeps it and the client stores it: the secret,
/// the mechanism it was issued for and its expiry.
#[derive(Clone)]
pub struct FastToken {
    /// The token string, as sent in `<token token='...'/>`: the HMAC key.
    pub secret: Zeroizing<String>,
    /// The `HT-*` mechanism it was requested for.
    pub mechanism: Mechanism,
    /// When it stops being accepted.
    pub expires: SystemTime,
    /// The highest `count` seen with it (XEP-0484 replay protection for
    /// 0-RTT data); a later use must carry a higher one.
    pub last_count: Option<u64>,
    /// It has authenticated before: the `current` slot, not the `new` one.
    /// Using it again changes nothing in the store (unless a `count` comes
    /// with it), so the server writes nothing then.
    pub in_use: bool,
}

impl FastToken {
    /// A fresh token for `mechanism` valid for `ttl` from `now`: 32 bytes
    /// from the operating system's CSPRNG, base64url-encoded.
    pub fn generate(mechanism: Mechanism, ttl: Duration, now: SystemTime) -> Self {
        let mut raw = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(raw.as_mut());
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_ref());
        FastToken {
            secret: Zeroizing::new(secret),
            mechanism,
            expires: now + ttl,
            last_count: None,
            in_use: false,
        }
    }
}

impl fmt::Debug for FastToken {
    /// Never shows the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastToken")
            .field("mechanism", &self.mechanism)
            .field("expires", &self.expires)
            .field("last_count", &self.last_count)
            .field("in_use", &self.in_use)
            .finish_non_exhaustive()
    }
}

/// Where a server keeps FAST tokens: per user and user-agent id, at most two
/// (XEP-0484's `new` and `current` slots).
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    /// The tokens of `username` (prepared localpart) for this user agent,
    /// the newest first.
    async fn tokens(&self, username: &str, user_agent: &str) -> Result<Vec<FastToken>, StoreError>;

    /// Records a newly issued token as the `new` one. The `current` one (the
    /// last used) stays valid until the new one is used; any older is
    /// dropped.
    async fn issue(
        &self,
        username: &str,
        user_agent: &str,
        token: FastToken,
    ) -> Result<(), StoreError>;

    /// `used` authenticated: it becomes the `current` token and every token
    /// of this user agent expiring before it is dropped. `count` is the
    /// client's counter, if it sent one.
    async fn used(
        &self,
        username: &str,
        user_agent: &str,
        used: &FastToken,
        count: Option<u64>,
    ) -> Result<(), StoreError>;

    /// Drops this user agent's tokens (`<fast invalidate='true'/>`).
    async fn invalidate(&self, username: &str, user_agent: &str) -> Result<(), StoreError>;

    /// Drops every token of `username` (password change, account disabled
    /// or removed).
    async fn revoke_user(&self, username: &str) -> Result<(), StoreError>;
}

/// Tokens in memory, for tests and single-process servers.
#[derive(Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<(String, String), Vec<Slot>>>,
}

/// A stored token and whether it was used (the `current` one) or not yet
/// (the `new` one).
struct Slot {
    token: FastToken,
    used: bool,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Vec<Slot>>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn key(username: &str, user_agent: &str) -> (String, String) {
    (username.to_owned(), user_agent.to_owned())
}

#[async_trait::async_trait]
impl TokenStore for MemoryTokenStore {
    async fn tokens(&self, username: &str, user_agent: &str) -> Result<Vec<FastToken>, StoreError> {
        let map = self.lock();
        let slots = map.get(&key(username, user_agent));
        // Newest first: the unused `new` one, then `current`.
        let mut out: Vec<FastToken> = slots
            .into_iter()
            .flatten()
            .filter(|s| !s.used)
            .chain(slots.into_iter().flatten().filter(|s| s.used))
            .map(|s| FastToken {
                in_use: s.used,
                ..s.token.clone()
            })
            .collect();
        out.truncate(2);
        Ok(out)
    }

    async fn issue(
        &self,
        username: &str,
        user_agent: &str,
        token: FastToken,
    ) -> Result<(), StoreError> {
        let mut map = self.lock();
        let slots = map.entry(key(username, user_agent)).or_default();
        // An unused `new` token is replaced; `current` stays until the new
        // one is used.
        slots.retain(|s| s.used);
        slots.push(Slot { token, used: false });
        Ok(())
    }

    async fn used(
        &self,
        username: &str,
        user_agent: &str,
        used: &FastToken,
        count: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut map = self.lock();
        let Some(slots) = map.get_mut(&key(username, user_agent)) else {
            return Ok(());
        };
        let is_it = |s: &Slot| *s.token.secret == *used.secret;
        // It becomes `current`: the previous `current` and anything that
        // expires before it go.
        slots.retain(|s| is_it(s) || (!s.used && s.token.expires >= used.expires));
        for s in slots.iter_mut().filter(|s| is_it(s)) {
            s.used = true;
            // Counts only grow (replay protection).
            s.token.last_count = match (s.token.last_count, count) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(())
    }

    async fn invalidate(&self, username: &str, user_agent: &str) -> Result<(), StoreError> {
        self.lock().remove(&key(username, user_agent));
        Ok(())
    }

    async fn revoke_user(&self, username: &str) -> Result<(), StoreError> {
        self.lock().retain(|(u, _), _| u != username);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    // XEP-0484's example token; the values were computed with two independent
    // HMAC implementations (our protocol checklist), none published in a spec.
    const TOKEN: &str = "WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm";

    #[test]
    fn known_answers_without_binding() {
        let mut c = HtClient::new(Mechanism::HtSha256None, "user", TOKEN, None).unwrap();
        let ir = c.initial_response().unwrap().unwrap();
        assert_eq!(
            ir,
            b64("dXNlcgCQl3h0YaGE4PqE7ADBOBGQtsTRao7ERTx7KsXn/Pk17Q==")
        );
        let ad = b64("TlE0CWMUdIY7mGyfPoweJ8op0derntQJfnr9YAe/nGI=");
        c.success(Some(&ad)).unwrap();
    }

    #[test]
    fn known_answer_with_binding() {
        let cb = vec![0u8; 32];
        let mut c =
            HtClient::new(Mechanism::HtSha256Expr, "user", TOKEN, Some(cb.clone())).unwrap();
        c.initial_response().unwrap();
        let ad = b64("VlNIFj/vrq68mc7XKhlRt/65WrlyjXUkPOTiPDEwZkk=");
        c.success(Some(&ad)).unwrap();
    }

    fn token(m: Mechanism, secret: &str, expires: SystemTime) -> FastToken {
        FastToken {
            secret: Zeroizing::new(secret.to_owned()),
            mechanism: m,
            expires,
            last_count: None,
            in_use: false,
        }
    }

    #[test]
    fn server_finds_the_token_and_proves_itself() {
        let now = SystemTime::now();
        let later = now + Duration::from_secs(60);
        let mut c = HtClient::new(Mechanism::HtSha256None, "user", TOKEN, None).unwrap();
        let ir = c.initial_response().unwrap().unwrap();
        let s = HtServer::start(Mechanism::HtSha256None, None, Some(&ir)).unwrap();
        assert_eq!(s.authcid(), "user");
        let tokens = [
            token(Mechanism::HtSha256None, "other", later),
            token(Mechanism::HtSha256None, TOKEN, later),
        ];
        let ok = s.verify(&tokens, now).unwrap();
        assert_eq!(ok.index, 1);
        c.success(Some(&ok.additional)).unwrap();
        // Expired, or issued for another mechanism: refused.
        let expired = [token(Mechanism::HtSha256None, TOKEN, now)];
        assert_eq!(
            s.verify(&expired, now).unwrap_err(),
            ServerFailure::BadCredentials
        );
        let other = [token(Mechanism::HtSha256Expr, TOKEN, later)];
        assert!(s.verify(&other, now).is_err());
    }

    #[test]
    fn binding_must_match() {
        let now = SystemTime::now();
        let tokens = [token(
            Mechanism::HtSha256Endp,
            TOKEN,
            now + Duration::from_secs(9),
        )];
        let mut c =
            HtClient::new(Mechanism::HtSha256Endp, "user", TOKEN, Some(vec![1; 32])).unwrap();
        let ir = c.initial_response().unwrap().unwrap();
        let same = HtServer::start(Mechanism::HtSha256Endp, Some(&[1; 32]), Some(&ir)).unwrap();
        assert!(same.verify(&tokens, now).is_ok());
        let mitm = HtServer::start(Mechanism::HtSha256Endp, Some(&[2; 32]), Some(&ir)).unwrap();
        assert!(mitm.verify(&tokens, now).is_err());
        // A bound mechanism on a stream without binding data is not offered.
        assert_eq!(
            HtServer::start(Mechanism::HtSha256Endp, None, Some(&ir)).unwrap_err(),
            ServerFailure::InvalidMechanism
        );
        assert!(HtClient::new(Mechanism::HtSha256Expr, "user", TOKEN, None).is_err());
    }

    #[test]
    fn hostile_initial_responses_are_malformed() {
        for ir in [
            &b""[..],
            b"user",
            b"\0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            b"user\0short",
            b"\xff\0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            let e = HtServer::start(Mechanism::HtSha256None, None, Some(ir)).unwrap_err();
            assert!(matches!(e, ServerFailure::Malformed(_)), "{ir:?}: {e:?}");
        }
        assert!(HtServer::start(Mechanism::HtSha256None, None, None).is_err());
        assert!(HtServer::start(Mechanism::ScramSha1, None, Some(b"u\0x")).is_err());
    }

    #[test]
    fn the_server_proof_must_be_right() {
        let mut c = HtClient::new(Mechanism::HtSha256None, "user", TOKEN, None).unwrap();
        c.initial_response().unwrap();
        assert!(c.success(None).is_err());
        assert!(c.success(Some(&[0; 32])).is_err());
    }

    #[test]
    fn generated_tokens_are_random_and_unprintable() {
        let now = SystemTime::now();
        let a = FastToken::generate(Mechanism::HtSha256None, Duration::from_secs(1), now);
        let b = FastToken::generate(Mechanism::HtSha256None, Duration::from_secs(1), now);
        assert_ne!(*a.secret, *b.secret);
        assert_eq!(a.secret.len(), 43);
        assert!(!format!("{a:?}").contains(a.secret.as_str()));
    }

    #[test]
    fn memory_store_slots() {
        let store = MemoryTokenStore::new();
        let now = SystemTime::now();
        let t1 = token(
            Mechanism::HtSha256None,
            "one",
            now + Duration::from_secs(10),
        );
        let t2 = token(
            Mechanism::HtSha256None,
            "two",
            now + Duration::from_secs(20),
        );
        let t3 = token(
            Mechanism::HtSha256None,
            "three",
            now + Duration::from_secs(30),
        );
        now_or_never(Box::pin(store.issue("u", "ua", t1.clone()))).unwrap();
        now_or_never(Box::pin(store.used("u", "ua", &t1, Some(1)))).unwrap();
        now_or_never(Box::pin(store.issue("u", "ua", t2.clone()))).unwrap();
        let got = now_or_never(Box::pin(store.tokens("u", "ua"))).unwrap();
        assert_eq!(got.len(), 2, "new and current");
        // Using the new one drops the older current one.
        now_or_never(Box::pin(store.used("u", "ua", &t2, None))).unwrap();
        let got = now_or_never(Box::pin(store.tokens("u", "ua"))).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(*got[0].secret, "two");
        // Issued twice without use: the unused new one is replaced.
        now_or_never(Box::pin(store.issue("u", "ua", t3))).unwrap();
        assert_eq!(
            now_or_never(Box::pin(store.tokens("u", "ua")))
                .unwrap()
                .len(),
            2
        );
        now_or_never(Box::pin(store.revoke_user("u"))).unwrap();
        assert!(now_or_never(Box::pin(store.tokens("u", "ua")))
            .unwrap()
            .is_empty());
    }

    /// Polls a future that never waits (the memory store's) to completion.
    fn now_or_never<T>(
        mut f: std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + '_>>,
    ) -> T {
        use std::task::{Context, Poll, Waker};
        let mut cx = Context::from_waker(Waker::noop());
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the memory store never waits"),
        }
    }
}
