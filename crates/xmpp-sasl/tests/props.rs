//! Property tests: client<->server loops with random (non-ASCII) credentials for every
//! mechanism; no panics and bounded work on arbitrary peer input.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use proptest::prelude::*;
use xmpp_sasl::*;

const MECHS: [Mechanism; 4] = [
    Mechanism::DigestMd5,
    Mechanism::Plain,
    Mechanism::ScramSha1,
    Mechanism::ScramSha256,
];

/// Printable text mixing ASCII (incl. `"`, `\`, `,`, `=`), Latin-1, €, Greek and CJK.
fn text(min: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            proptest::char::range('!', '~'),
            Just('é'),
            Just('ü'),
            Just('ß'),
            Just('€'),
            Just('Ω'),
            Just('用'),
            Just('户'),
            Just('密'),
        ],
        min..12,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// [`text`] as a store keys it ([`prepare_username`]): the spelling a
/// client logs in with, so that DIGEST-MD5, whose hash covers it, agrees.
fn username() -> impl Strategy<Value = String> {
    text(1).prop_filter_map("nodeprep refuses it", |u| {
        prepare_username(&u).ok().map(std::borrow::Cow::into_owned)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_mechanism_round_trips(
        user in username(),
        pass in text(1),
        with_authzid in any::<bool>(),
        rspauth_in_success in any::<bool>(),
    ) {
        let store = MemoryStore::new();
        store.add(&user, &pass, &["example.com"]).unwrap();
        let mut cfg = ServerMechanismConfig::new("example.com");
        cfg.rspauth_in_success = rspauth_in_success;
        let cfg = cfg.with_authorizer(std::sync::Arc::new(|_: &str, z: &str| z == "other@example.com"));
        for mech in MECHS {
            let mut creds = ClientCredentials::new(user.clone(), pass.clone(), "example.com");
            if with_authzid {
                creds.authzid = Some("other@example.com".into());
            }
            let mut c = client_mechanism(mech, creds).unwrap();
            let mut s = server_mechanism(mech, &cfg).unwrap();
            let (authcid, authzid) = common::run(c.as_mut(), s.as_mut(), &store)
                .map_err(|e| TestCaseError::fail(format!("{mech}: {e}")))?;
            prop_assert_eq!(authcid.as_str(), user.as_str());
            prop_assert_eq!(authzid.is_some(), with_authzid);
        }
    }

    #[test]
    fn wrong_password_never_authenticates(user in username(), pass in text(1), other in text(1)) {
        prop_assume!(pass != other);
        let store = MemoryStore::new();
        store.add(&user, &pass, &["example.com"]).unwrap();
        let cfg = ServerMechanismConfig::new("example.com");
        for mech in MECHS {
            let creds = ClientCredentials::new(user.clone(), other.clone(), "example.com");
            let mut c = client_mechanism(mech, creds).unwrap();
            let mut s = server_mechanism(mech, &cfg).unwrap();
            let r = common::run(c.as_mut(), s.as_mut(), &store);
            prop_assert!(r.is_err(), "{mech} accepted a wrong password");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes at every server entry point: a step, never a panic, quickly.
    #[test]
    fn servers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600), second in proptest::collection::vec(any::<u8>(), 0..200)) {
        let cfg = ServerMechanismConfig::new("example.com").with_channel_bindings(vec![
            ChannelBinding::new(ChannelBindingType::TlsExporter, vec![1; 32]),
        ]);
        for mech in Mechanism::ALL {
            let t = Instant::now();
            let mut s = server_mechanism(mech, &cfg).unwrap();
            let _ = s.start(Some(&data));
            let _ = s.step(&second);
            let mut s = server_mechanism(mech, &cfg).unwrap();
            let _ = s.start(None);
            if let ServerStep::NeedCredentials { .. } = s.step(&data) {
                let _ = s.credentials(Ok(None));
                let _ = s.step(&second);
            }
            prop_assert!(t.elapsed() < Duration::from_secs(2));
        }
    }

    /// Arbitrary bytes at every client entry point.
    #[test]
    fn clients_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600), second in proptest::collection::vec(any::<u8>(), 0..200)) {
        for mech in Mechanism::ALL {
            let cb = ClientChannelBinding::Use(ChannelBinding::new(ChannelBindingType::TlsServerEndPoint, vec![2; 32]));
            let creds = ClientCredentials::new("u", "p", "example.com").with_channel_binding(cb);
            let mut c = client_mechanism(mech, creds).unwrap();
            let _ = c.initial_response();
            let _ = c.respond(&data);
            let _ = c.respond(&second);
            let _ = c.success(Some(&data));
            let _ = c.success(None);
        }
    }

    /// Near-valid DIGEST-MD5 challenges (directive soup from the real vocabulary).
    #[test]
    fn digest_directive_soup(parts in proptest::collection::vec(
        prop_oneof![
            Just("realm=\"example.com\"".to_string()),
            Just("nonce=\"abc\"".to_string()),
            Just("qop=\"auth,auth-int\"".to_string()),
            Just("charset=utf-8".to_string()),
            Just("algorithm=md5-sess".to_string()),
            Just("cipher=\"rc4,3des\"".to_string()),
            Just("maxbuf=2048".to_string()),
            Just("rspauth=ea40f60335c427b5527b84dbabcdfffd".to_string()),
            Just(" ".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("=".to_string()),
            Just(",".to_string()),
            "[a-z]{1,5}=\"[^\"]{0,5}\"",
        ], 0..12)) {
        let ch = parts.join(",");
        let mut c = DigestMd5Client::with_cnonce(ClientCredentials::new("u", "p", "example.com"), "cn");
        let _ = c.respond(ch.as_bytes());
        let mut s = DigestMd5Server::with_nonce(ServerMechanismConfig::new("example.com"), "abc");
        let _ = s.start(None);
        let _ = s.step(ch.as_bytes());
    }

    /// Flipping any byte of an honest client message never yields success.
    #[test]
    fn tampered_messages_fail(idx in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let store = MemoryStore::new();
        store.insert("somenode", StoredCredentials::derive_with("somenode", "secret", &["example.com"], b"salt", b"salt", 4096)).unwrap();
        let cfg = ServerMechanismConfig::new("example.com");
        // DIGEST-MD5 response.
        let mut c = DigestMd5Client::with_cnonce(ClientCredentials::new("somenode", "secret", "example.com"), "cn0nce");
        let mut s = DigestMd5Server::with_nonce(cfg.clone(), "abcNONCE");
        let ServerStep::Challenge(ch) = s.start(None) else { panic!() };
        let mut r = c.respond(&ch).unwrap();
        // Only the values that must be verified: renaming or dropping an optional
        // directive (qop, charset) is legitimately harmless.
        let text = String::from_utf8(r.clone()).unwrap();
        let mut positions = Vec::new();
        for name in ["username=", "nonce=", "cnonce=", "nc=", "digest-uri=", "response="] {
            let start = text.find(&format!(",{name}")).map(|p| p + 1).or_else(|| text.starts_with(name).then_some(0)).unwrap() + name.len();
            let end = text[start..].find(',').map_or(text.len(), |e| start + e);
            positions.extend(start..end);
        }
        let i = positions[idx.index(positions.len())];
        r[i] ^= flip;
        let step = match s.step(&r) {
            ServerStep::NeedCredentials { username } => s.credentials(Ok(store.get(&username))),
            other => other,
        };
        // Flipping the case of a hex digit in `response`, or of a directive name, is harmless.
        let benign = r[i].eq_ignore_ascii_case(&(r[i] ^ flip));
        prop_assert!(benign || matches!(step, ServerStep::Failure(_)), "{:?}", String::from_utf8_lossy(&r));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// FAST (HT): any initial response and any server proof are an error or
    /// a verdict, never a panic; only the real proof verifies.
    #[test]
    fn ht_never_panics_and_only_the_token_verifies(
        data in proptest::collection::vec(any::<u8>(), 0..200),
        proof in proptest::collection::vec(any::<u8>(), 0..64),
        cb in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
    ) {
        use std::time::{Duration, SystemTime};
        use xmpp_sasl::{FastToken, HtClient, HtServer, Mechanism};
        let now = SystemTime::now();
        let token = FastToken::generate(Mechanism::HtSha256None, Duration::from_secs(60), now);
        for m in Mechanism::FAST {
            if let Ok(server) = HtServer::start(m, cb.as_deref(), Some(&data)) {
                // Random bytes do not carry the token's HMAC.
                prop_assert!(server.verify(std::slice::from_ref(&token), now).is_err());
            }
        }
        let mut client = HtClient::new(Mechanism::HtSha256None, "user", &token.secret, None).unwrap();
        let ir = client.initial_response().unwrap().unwrap();
        let server = HtServer::start(Mechanism::HtSha256None, None, Some(&ir)).unwrap();
        let verified = server.verify(std::slice::from_ref(&token), now).unwrap();
        prop_assert_eq!(client.success(Some(&proof)).is_ok(), proof == verified.additional);
    }
}
