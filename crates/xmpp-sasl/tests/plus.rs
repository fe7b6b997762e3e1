//! SCRAM-*-PLUS: channel-binding vectors, downgrade protection, policy, and
//! in-memory loops with random binding data.
//!
//! Expected values come from `tests/vectors/scram.py` (hashlib + hmac; the
//! tls-server-end-point cases also agree with the independent `scramp` 1.5.0
//! client and server, which the script runs when installed). The scramp suite's own
//! published `-PLUS` vectors (tls-unique data) are in `src/scram/`'s unit tests.
#![allow(clippy::unwrap_used)]

mod common;

use common::{base64_decode, run, server_condition};
use proptest::prelude::*;
use xmpp_sasl::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// RFC 9266 exports 32 bytes; the script uses 00..1f.
fn exporter() -> ChannelBinding {
    ChannelBinding::new(
        ChannelBindingType::TlsExporter,
        (0u8..32).collect::<Vec<_>>(),
    )
}

/// SHA-256(b"certificate"), standing in for a certificate hash (RFC 5929 §4.1).
fn endpoint() -> ChannelBinding {
    ChannelBinding::new(
        ChannelBindingType::TlsServerEndPoint,
        hex("03d66dd08835c1ca3f128cceacd1f31ac94163096b20f445ae84285bc0832d72"),
    )
}

struct Case {
    name: &'static str,
    hash: ScramHash,
    user: &'static str,
    pass: &'static str,
    authzid: Option<&'static str>,
    cnonce: &'static str,
    snonce: &'static str,
    salt: Vec<u8>,
    cb: ChannelBinding,
    client_first: &'static str,
    server_first: &'static str,
    client_final: &'static str,
    server_final: &'static str,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "plus_exporter_sha256",
            hash: ScramHash::Sha256,
            user: "user",
            pass: "pencil",
            authzid: None,
            cnonce: "clientNONCE",
            snonce: "serverNONCE",
            salt: b"saltsalt".to_vec(),
            cb: exporter(),
            client_first: "p=tls-exporter,,n=user,r=clientNONCE",
            server_first: "r=clientNONCEserverNONCE,s=c2FsdHNhbHQ=,i=4096",
            client_final: "c=cD10bHMtZXhwb3J0ZXIsLAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f,r=clientNONCEserverNONCE,p=YsGhB95anRq8+Qt34LvD/wDoyd0ShG3/R/d1Zs7nM/o=",
            server_final: "v=HX32ESz/Xe+2helyUdasFefFn8n9BQSuW2Ubs/QP6Kw=",
        },
        Case {
            name: "plus_exporter_sha1_authzid",
            hash: ScramHash::Sha1,
            user: "juliet",
            pass: "r0m30myr0m30",
            authzid: Some("admin@example.com"),
            cnonce: "clientNONCE",
            snonce: "serverNONCE",
            salt: b"saltsalt".to_vec(),
            cb: exporter(),
            client_first: "p=tls-exporter,a=admin@example.com,n=juliet,r=clientNONCE",
            server_first: "r=clientNONCEserverNONCE,s=c2FsdHNhbHQ=,i=4096",
            client_final: "c=cD10bHMtZXhwb3J0ZXIsYT1hZG1pbkBleGFtcGxlLmNvbSwAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw==,r=clientNONCEserverNONCE,p=SWZJ6KVu/4m4Cavf9ARDWMP1ix8=",
            server_final: "v=Er4wLJ+FtwR87KDM258l6MljvP4=",
        },
        Case {
            name: "plus_endpoint_sha256 (scramp agrees)",
            hash: ScramHash::Sha256,
            user: "juliet",
            pass: "r0m30myr0m30",
            authzid: None,
            cnonce: "clientNONCE",
            snonce: "serverNONCE",
            salt: b"saltsaltsaltsalt".to_vec(),
            cb: endpoint(),
            client_first: "p=tls-server-end-point,,n=juliet,r=clientNONCE",
            server_first: "r=clientNONCEserverNONCE,s=c2FsdHNhbHRzYWx0c2FsdA==,i=4096",
            client_final: "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsA9Zt0Ig1wco/EozOrNHzGslBYwlrIPRFroQoW8CDLXI=,r=clientNONCEserverNONCE,p=gKZOCbBOnxPMOt0qjozWMYx7fLl4vHzBoPV/+5fBPao=",
            server_final: "v=PBrrtgWJ0UjiAda3N5sgXKzd5bxFmjQgpk7mCPXH2yI=",
        },
        Case {
            name: "plus_endpoint_sha1 (scramp agrees)",
            hash: ScramHash::Sha1,
            user: "user",
            pass: "pencil",
            authzid: None,
            cnonce: "fyko+d2lbbFgONRv9qkxdawL",
            snonce: "3rfcNHYJY1ZVvWVs7j",
            salt: base64_decode("QSXCR+Q6sek8bf92"),
            cb: endpoint(),
            client_first: "p=tls-server-end-point,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
            server_first: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            client_final: "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsA9Zt0Ig1wco/EozOrNHzGslBYwlrIPRFroQoW8CDLXI=,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=itNKW6AWt32387Nbh9ejPjfgtl0=",
            server_final: "v=7NzX8edR1CrwQa9fbCIwXrkJ3qk=",
        },
    ]
}

fn creds_with(user: &str, pass: &str, cb: ClientChannelBinding) -> ClientCredentials {
    ClientCredentials::new(user, pass, "example.com").with_channel_binding(cb)
}

fn cfg_with(bindings: Vec<ChannelBinding>) -> ServerMechanismConfig {
    ServerMechanismConfig::new("example.com")
        .with_authorizer(std::sync::Arc::new(|_: &str, z: &str| {
            z == "admin@example.com"
        }))
        .with_channel_bindings(bindings)
}

#[test]
fn plus_client_vectors() {
    for t in cases() {
        let mut creds = creds_with(t.user, t.pass, ClientChannelBinding::Use(t.cb.clone()));
        creds.authzid = t.authzid.map(String::from);
        let mut m = ScramClient::with_nonce_plus(t.hash, creds, t.cnonce).unwrap();
        assert_eq!(m.name(), t.hash.plus_mechanism());
        let first = m.initial_response().unwrap().unwrap();
        assert_eq!(
            String::from_utf8(first).unwrap(),
            t.client_first,
            "{}",
            t.name
        );
        let fin = m.respond(t.server_first.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(fin).unwrap(),
            t.client_final,
            "{}",
            t.name
        );
        m.success(Some(t.server_final.as_bytes())).unwrap();
    }
}

#[test]
fn plus_server_vectors() {
    for t in cases() {
        // The connection offers both types; the client picks one.
        let cfg = cfg_with(vec![exporter(), endpoint()]);
        let mut s = ScramServer::with_nonce_plus(t.hash, cfg, t.snonce).unwrap();
        assert_eq!(s.name(), t.hash.plus_mechanism());
        let ServerStep::NeedCredentials { username } = s.start(Some(t.client_first.as_bytes()))
        else {
            panic!("{}", t.name)
        };
        assert_eq!(username, t.user);
        let sc = StoredCredentials::derive_with(t.user, t.pass, &[], &t.salt, &t.salt, 4096);
        let ServerStep::Challenge(sf) = s.credentials(Ok(Some(sc))) else {
            panic!()
        };
        assert_eq!(String::from_utf8(sf).unwrap(), t.server_first);
        match s.step(t.client_final.as_bytes()) {
            ServerStep::Success {
                authcid,
                authzid,
                additional,
            } => {
                assert_eq!(authcid, t.user);
                assert_eq!(authzid.as_deref(), t.authzid);
                assert_eq!(additional.unwrap(), t.server_final.as_bytes(), "{}", t.name);
            }
            other => panic!("{}: {other:?}", t.name),
        }
    }
}

/// scram.py flag_y_sha256: a client that could bind but saw no -PLUS sends `y,,`.
const Y_FIRST: &str = "y,,n=user,r=clientNONCE";
const Y_SERVER_FIRST: &str = "r=clientNONCEserverNONCE,s=c2FsdHNhbHQ=,i=4096";
const Y_FINAL: &str =
    "c=eSws,r=clientNONCEserverNONCE,p=IxXGdrhHzE8I4UzCbK3hdyxU6b4wzVzygagkA5p57Kg=";
const Y_SERVER_FINAL: &str = "v=meUMQF6uFTQUeqSJNa7QA7BRfNRrNAOPJ6iLDfmmwvA=";

#[test]
fn flag_y_vector_client() {
    for cb in [
        ClientChannelBinding::NotOffered,
        // Bindable but a non-PLUS name was chosen: still `y`, never `n` or `p=`.
        ClientChannelBinding::Use(exporter()),
    ] {
        let mut c = ScramClient::with_nonce(
            ScramHash::Sha256,
            creds_with("user", "pencil", cb),
            "clientNONCE",
        );
        assert_eq!(c.name(), "SCRAM-SHA-256");
        let first = c.initial_response().unwrap().unwrap();
        assert_eq!(first, Y_FIRST.as_bytes());
        let fin = c.respond(Y_SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(fin, Y_FINAL.as_bytes());
        c.success(Some(Y_SERVER_FINAL.as_bytes())).unwrap();
    }
}

#[test]
fn flag_y_accepted_by_server_without_bindings() {
    let mut s = ScramServer::with_nonce(ScramHash::Sha256, cfg_with(vec![]), "serverNONCE");
    assert!(matches!(
        s.start(Some(Y_FIRST.as_bytes())),
        ServerStep::NeedCredentials { .. }
    ));
    let sc = StoredCredentials::derive_with("user", "pencil", &[], b"saltsalt", b"saltsalt", 4096);
    let ServerStep::Challenge(sf) = s.credentials(Ok(Some(sc))) else {
        panic!()
    };
    assert_eq!(sf, Y_SERVER_FIRST.as_bytes());
    match s.step(Y_FINAL.as_bytes()) {
        ServerStep::Success { additional, .. } => {
            assert_eq!(additional.unwrap(), Y_SERVER_FINAL.as_bytes())
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn flag_y_refused_by_plus_capable_server() {
    // -PLUS was offered (bindings present), yet the client says it saw none: an
    // attacker stripped the offer (RFC 5802 §6).
    for cb in [vec![exporter()], vec![endpoint()]] {
        for hash in [ScramHash::Sha1, ScramHash::Sha256] {
            let mut s = ScramServer::with_nonce(hash, cfg_with(cb.clone()), "serverNONCE");
            let step = s.start(Some(Y_FIRST.as_bytes()));
            let ServerStep::Failure(e) = step else {
                panic!("{step:?}")
            };
            assert_eq!(e.condition(), Condition::NotAuthorized);
            assert_eq!(e.kind(), ErrorKind::Protocol);
        }
    }
    // End to end: a NotOffered client against a server that had offered -PLUS.
    let store = MemoryStore::new();
    store.add("user", "pencil", &[]).unwrap();
    let mut c = client_mechanism(
        Mechanism::ScramSha256,
        creds_with("user", "pencil", ClientChannelBinding::NotOffered),
    )
    .unwrap();
    let mut s = server_mechanism(Mechanism::ScramSha256, &cfg_with(vec![exporter()])).unwrap();
    assert_eq!(
        run(c.as_mut(), s.as_mut(), &store).unwrap_err(),
        "server: not-authorized"
    );
}

#[test]
fn flag_n_accepted_by_plus_capable_non_plus_server() {
    // A client that cannot bind at all may use plain SCRAM on a TLS stream.
    let store = MemoryStore::new();
    store.add("user", "pencil", &[]).unwrap();
    for mech in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
        let mut c =
            client_mechanism(mech, creds_with("user", "pencil", Default::default())).unwrap();
        let mut s = server_mechanism(mech, &cfg_with(vec![exporter()])).unwrap();
        assert_eq!(run(c.as_mut(), s.as_mut(), &store).unwrap().0, "user");
    }
}

fn first_step(s: &mut dyn ServerMechanism, msg: &str) -> Option<Condition> {
    server_condition(s.start(Some(msg.as_bytes())))
}

#[test]
fn plus_server_refuses_n_y_and_foreign_types() {
    let cfg = cfg_with(vec![exporter()]);
    let cases = [
        ("n,,n=user,r=abc", Condition::NotAuthorized),
        ("y,,n=user,r=abc", Condition::NotAuthorized),
        // Type mismatch: this connection has only tls-exporter.
        (
            "p=tls-server-end-point,,n=user,r=abc",
            Condition::NotAuthorized,
        ),
        ("p=tls-unique,,n=user,r=abc", Condition::NotAuthorized),
        // Not a cb-name at all: syntax.
        ("p=tls_exporter,,n=user,r=abc", Condition::MalformedRequest),
        ("p=,,n=user,r=abc", Condition::MalformedRequest),
    ];
    for name in [Mechanism::ScramSha1Plus, Mechanism::ScramSha256Plus] {
        for (msg, cond) in cases {
            let mut s = server_mechanism(name, &cfg).unwrap();
            assert_eq!(first_step(s.as_mut(), msg), Some(cond), "{name} {msg}");
        }
        let mut s = server_mechanism(name, &cfg).unwrap();
        assert_eq!(first_step(s.as_mut(), "p=tls-exporter,,n=user,r=abc"), None);
    }
}

#[test]
fn non_plus_server_refuses_p() {
    // A client must never send p= with a non-PLUS name; bindings or not.
    for cfg in [cfg_with(vec![]), cfg_with(vec![exporter()])] {
        let mut s = server_mechanism(Mechanism::ScramSha256, &cfg).unwrap();
        assert_eq!(
            first_step(s.as_mut(), "p=tls-exporter,,n=user,r=abc"),
            Some(Condition::NotAuthorized)
        );
    }
}

#[test]
fn wrong_binding_data_fails() {
    let store = MemoryStore::new();
    store.add("user", "pencil", &[]).unwrap();
    for name in [Mechanism::ScramSha1Plus, Mechanism::ScramSha256Plus] {
        for kind in ChannelBindingType::ALL {
            // A man in the middle: two TLS sessions, two different bindings.
            let client_cb = ChannelBinding::new(kind, vec![1u8; 32]);
            let mut server_data = vec![1u8; 32];
            server_data[31] = 2;
            let server_cb = ChannelBinding::new(kind, server_data);
            let mut c = client_mechanism(
                name,
                creds_with("user", "pencil", ClientChannelBinding::Use(client_cb)),
            )
            .unwrap();
            let mut s = server_mechanism(name, &cfg_with(vec![server_cb])).unwrap();
            assert_eq!(
                run(c.as_mut(), s.as_mut(), &store).unwrap_err(),
                "server: not-authorized",
                "{name} {kind}"
            );
        }
    }
    // Same type, data of another length (a truncated exporter value).
    let mut c = client_mechanism(
        Mechanism::ScramSha256Plus,
        creds_with(
            "user",
            "pencil",
            ClientChannelBinding::Use(ChannelBinding::new(
                ChannelBindingType::TlsExporter,
                (0u8..31).collect::<Vec<_>>(),
            )),
        ),
    )
    .unwrap();
    let mut s = server_mechanism(Mechanism::ScramSha256Plus, &cfg_with(vec![exporter()])).unwrap();
    assert!(run(c.as_mut(), s.as_mut(), &store).is_err());
    // The vector's client-final replayed with the endpoint type's c= against an
    // exporter-only connection: the first message already fails (type mismatch).
    let t = &cases()[2];
    let mut s = ScramServer::with_nonce_plus(t.hash, cfg_with(vec![exporter()]), t.snonce).unwrap();
    assert_eq!(
        server_condition(s.start(Some(t.client_first.as_bytes()))),
        Some(Condition::NotAuthorized)
    );
}

#[test]
fn tampered_c_attribute_fails() {
    // Honest client-first, then a client-final whose c= carries other data.
    let t = &cases()[0];
    let cfg = cfg_with(vec![exporter()]);
    let mut s = ScramServer::with_nonce_plus(t.hash, cfg, t.snonce).unwrap();
    s.start(Some(t.client_first.as_bytes()));
    let sc = StoredCredentials::derive_with(t.user, t.pass, &[], &t.salt, &t.salt, 4096);
    s.credentials(Ok(Some(sc)));
    // base64("p=tls-exporter,,") alone: the header without the binding data.
    let fin = t.client_final.replace(
        "cD10bHMtZXhwb3J0ZXIsLAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f",
        "cD10bHMtZXhwb3J0ZXIsLA==",
    );
    assert_eq!(
        server_condition(s.step(fin.as_bytes())),
        Some(Condition::NotAuthorized)
    );
}

#[test]
fn plus_factories_need_binding() {
    for name in [Mechanism::ScramSha1Plus, Mechanism::ScramSha256Plus] {
        for cb in [
            ClientChannelBinding::Unsupported,
            ClientChannelBinding::NotOffered,
        ] {
            assert!(client_mechanism(name, creds_with("u", "p", cb.clone())).is_none());
            assert!(ScramClient::new_plus(ScramHash::Sha1, creds_with("u", "p", cb)).is_none());
        }
        let c = client_mechanism(
            name,
            creds_with("u", "p", ClientChannelBinding::Use(endpoint())),
        )
        .unwrap();
        assert_eq!(c.name(), name);
        assert!(server_mechanism(name, &cfg_with(vec![])).is_none());
        assert!(ScramServer::new_plus(ScramHash::Sha256, cfg_with(vec![])).is_none());
        assert_eq!(
            server_mechanism(name, &cfg_with(vec![endpoint()]))
                .unwrap()
                .name(),
            name
        );
        assert!(name.needs_secure_channel());
    }
    assert_eq!(
        ClientCredentials::new("u", "p", "h").channel_binding,
        ClientChannelBinding::Unsupported
    );
    assert!(ServerMechanismConfig::new("h").channel_bindings.is_empty());
}

#[test]
fn selector_prefers_plus_on_tls_only() {
    let offered: Vec<MechanismName> = [
        "PLAIN",
        "SCRAM-SHA-1",
        "SCRAM-SHA-256",
        "SCRAM-SHA-1-PLUS",
        "SCRAM-SHA-256-PLUS",
    ]
    .map(MechanismName::from)
    .into();
    let s = MechanismSelector::default();
    assert_eq!(
        s.preference(),
        [
            "SCRAM-SHA-256-PLUS",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1",
            "DIGEST-MD5",
            "PLAIN"
        ]
    );
    assert_eq!(
        s.select(&offered, true, &[]),
        Some(Mechanism::ScramSha256Plus)
    );
    // No TLS: nothing to bind to.
    assert_eq!(s.select(&offered, false, &[]), Some(Mechanism::ScramSha256));
    // TLS without binding data: the stream layer excludes the -PLUS names.
    let no_cb = [Mechanism::ScramSha256Plus, Mechanism::ScramSha1Plus];
    assert_eq!(
        s.select(&offered, true, &no_cb),
        Some(Mechanism::ScramSha256)
    );
    assert_eq!(Mechanism::ALL.len(), 6);
}

#[test]
fn describe_payload_for_plus() {
    let t = &cases()[0];
    for m in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"] {
        assert_eq!(
            describe_payload(m, true, t.client_first.as_bytes()),
            t.client_first
        );
        assert_eq!(
            describe_payload(m, true, t.client_final.as_bytes()),
            t.client_final
        );
        assert_eq!(
            describe_payload(m, false, t.server_final.as_bytes()),
            t.server_final
        );
    }
}

#[test]
fn binding_types_and_debug() {
    assert_eq!(ChannelBindingType::TlsExporter.as_str(), "tls-exporter");
    assert_eq!(
        ChannelBindingType::TlsServerEndPoint.as_str(),
        "tls-server-end-point"
    );
    assert_eq!(
        ChannelBindingType::from_name("tls-server-end-point"),
        Some(ChannelBindingType::TlsServerEndPoint)
    );
    assert_eq!(ChannelBindingType::from_name("tls-unique"), None);
    let d = format!("{:?}", exporter());
    assert!(
        d.len() < 80 && d.contains("tls-exporter") && d.contains("32"),
        "{d}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    /// In-memory -PLUS loops with random binding data of both types: equal data
    /// authenticates, any difference does not.
    #[test]
    fn plus_loops_with_random_binding(
        data in proptest::collection::vec(any::<u8>(), 1..80),
        other in proptest::collection::vec(any::<u8>(), 1..80),
        endpoint_type in any::<bool>(),
        sha1 in any::<bool>(),
        user in "[a-zA-Z0-9,=é€]{1,8}",
    ) {
        let kind = if endpoint_type { ChannelBindingType::TlsServerEndPoint } else { ChannelBindingType::TlsExporter };
        let name = if sha1 { Mechanism::ScramSha1Plus } else { Mechanism::ScramSha256Plus };
        let store = MemoryStore::new();
        store.add(&user, "pw", &[]).unwrap();
        // Both types offered by the server; the client binds to one.
        let server_bindings = vec![
            ChannelBinding::new(kind, data.clone()),
            ChannelBinding::new(
                if endpoint_type { ChannelBindingType::TlsExporter } else { ChannelBindingType::TlsServerEndPoint },
                other.clone(),
            ),
        ];
        let cfg = cfg_with(server_bindings);
        let creds = creds_with(&user, "pw", ClientChannelBinding::Use(ChannelBinding::new(kind, data.clone())));
        let mut c = client_mechanism(name, creds).unwrap();
        let mut s = server_mechanism(name, &cfg).unwrap();
        prop_assert_eq!(run(c.as_mut(), s.as_mut(), &store).map(|r| r.0), Ok(user.clone()));

        let creds = creds_with(&user, "pw", ClientChannelBinding::Use(ChannelBinding::new(kind, other.clone())));
        let mut c = client_mechanism(name, creds).unwrap();
        let mut s = server_mechanism(name, &cfg).unwrap();
        let r = run(c.as_mut(), s.as_mut(), &store);
        prop_assert_eq!(r.is_ok(), data == other);
    }
}
