//! XEP-0474 (SASL SCRAM Downgrade Protection, version 0.5.0): the `h=`
//! attribute, server and client.
//!
//! Known answers come from XEP-0474's text only: the hash of its example lists
//! and its full SCRAM-SHA-1-PLUS example (user `user`, password `pencil`,
//! channel binding `p=tls-exporter` over the data `THIS IS FAKE CB DATA`, a
//! client-final with an extension `x=`).
#![allow(clippy::unwrap_used)]

mod common;

use common::{base64_decode, run};
use proptest::prelude::*;
use xmpp_sasl::*;

const XEP_CNONCE: &str = "12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6";
const XEP_SNONCE: &str = "a09117a6-ac50-4f2f-93f1-93799c2bddf6";
const XEP_SALT: &str = "QSXCR+Q6sek8bf92";
const XEP_H: &str = "G6k/rBLDqgOhRRaCuuatSDFkJ08=";
/// The example's `<initial-response/>`, decoded.
const XEP_CLIENT_FIRST: &str = "p=tls-exporter,,n=user,r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6";
/// The example's first `<challenge/>`, decoded.
const XEP_SERVER_FIRST: &str = "r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6a09117a6-ac50-4f2f-93f1-93799c2bddf6,s=QSXCR+Q6sek8bf92,i=4096,h=G6k/rBLDqgOhRRaCuuatSDFkJ08=";
/// The example's `<response/>`, decoded: an extension `x=` before `p=`.
const XEP_CLIENT_FINAL: &str = "c=cD10bHMtZXhwb3J0ZXIsLFRISVMgSVMgRkFLRSBDQiBEQVRB,r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6a09117a6-ac50-4f2f-93f1-93799c2bddf6,x=19C6532F-1CF4-4A27-A18D-DC9CEA41BBB3,p=M/SIDjT+dfcxUh89jZEypRvFxB4=";
/// The example's `<additional-data/>`, decoded.
const XEP_SERVER_FINAL: &str = "v=MQrMPvv7yv4x4Cq4W4Ih25EqS2c=";

fn cb_types(types: &[&str]) -> Option<Vec<String>> {
    Some(types.iter().map(|t| t.to_string()).collect())
}

/// What the example's server advertised (in its own order).
fn xep_ssdp() -> Ssdp {
    Ssdp::new(
        ["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"],
        cb_types(&["tls-server-end-point", "tls-exporter"]),
    )
}

fn xep_binding() -> ChannelBinding {
    ChannelBinding::new(
        ChannelBindingType::TlsExporter,
        b"THIS IS FAKE CB DATA".to_vec(),
    )
}

fn xep_server() -> ScramServer {
    let cfg = ServerMechanismConfig::new("example.org")
        .with_channel_bindings(vec![xep_binding()])
        .with_ssdp(xep_ssdp());
    ScramServer::with_nonce_plus(ScramHash::Sha1, cfg, XEP_SNONCE).unwrap()
}

fn xep_stored() -> StoredCredentials {
    let salt = base64_decode(XEP_SALT);
    StoredCredentials::derive_with("user", "pencil", &[], &salt, &salt, 4096)
}

fn xep_client(ssdp: Option<Ssdp>, require: bool) -> ScramClient {
    let mut creds = ClientCredentials::new("user", "pencil", "example.org")
        .with_channel_binding(ClientChannelBinding::Use(xep_binding()))
        .require_ssdp(require);
    creds.ssdp = ssdp;
    ScramClient::with_nonce_plus(ScramHash::Sha1, creds, XEP_CNONCE).unwrap()
}

/// A client that has sent its client-first and now gets `server_first`.
fn answer(mut client: ScramClient, server_first: &str) -> Result<Vec<u8>, ClientError> {
    client.initial_response().unwrap();
    client.respond(server_first.as_bytes())
}

#[test]
fn xep_hash_vector() {
    assert_eq!(xep_ssdp().digest(ScramHash::Sha1), base64_decode(XEP_H));
    // Already sorted, and sorted the other way round: the same value.
    let sorted = Ssdp::new(
        ["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"],
        cb_types(&["tls-exporter", "tls-server-end-point"]),
    );
    let reversed = Ssdp::new(
        ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"],
        cb_types(&["tls-server-end-point", "tls-exporter"]),
    );
    for s in [&sorted, &reversed] {
        assert_eq!(s.digest(ScramHash::Sha1), base64_decode(XEP_H));
        assert_eq!(s, &xep_ssdp());
    }
    assert_eq!(
        sorted.mechanisms(),
        ["SCRAM-SHA-1".to_string(), "SCRAM-SHA-1-PLUS".to_string()]
    );
    assert_eq!(
        xep_ssdp().digest(ScramHash::Sha256).len(),
        ScramHash::Sha256.output_len()
    );
}

#[test]
fn no_channel_binding_list_differs_from_an_empty_one() {
    let none = Ssdp::new(["SCRAM-SHA-1", "SCRAM-SHA-256"], None);
    let empty = Ssdp::new(["SCRAM-SHA-1", "SCRAM-SHA-256"], Some(vec![]));
    assert_ne!(none, empty);
    assert_eq!(none.channel_binding_types(), None);
    assert_eq!(empty.channel_binding_types(), Some(&[][..]));
    for hash in [ScramHash::Sha1, ScramHash::Sha256] {
        assert_ne!(none.digest(hash), empty.digest(hash));
    }
    // The channel-binding list is hashed with the mechanisms, not instead.
    assert_ne!(
        xep_ssdp().digest(ScramHash::Sha1),
        Ssdp::new(
            ["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"],
            cb_types(&["tls-exporter"])
        )
        .digest(ScramHash::Sha1)
    );
}

/// The server half of XEP-0474's example: the same server-first (with `h=`),
/// a client-final with an unknown extension `x=` accepted, the same
/// server-final. The binding type is tls-exporter, as the example's GS2 header
/// says.
#[test]
fn xep_example_server() {
    let mut s = xep_server();
    let ServerStep::NeedCredentials { username } = s.start(Some(XEP_CLIENT_FIRST.as_bytes()))
    else {
        panic!()
    };
    assert_eq!(username, "user");
    let ServerStep::Challenge(sf) = s.credentials(Ok(Some(xep_stored()))) else {
        panic!()
    };
    assert_eq!(String::from_utf8(sf).unwrap(), XEP_SERVER_FIRST);
    match s.step(XEP_CLIENT_FINAL.as_bytes()) {
        ServerStep::Success {
            authcid,
            authzid,
            additional,
        } => {
            assert_eq!(authcid, "user");
            assert_eq!(authzid, None);
            assert_eq!(
                String::from_utf8(additional.unwrap()).unwrap(),
                XEP_SERVER_FINAL
            );
        }
        other => panic!("{other:?}"),
    }
}

/// The extension is covered by the proof: dropping `x=` from the example's
/// client-final (the AuthMessage changes) fails.
#[test]
fn xep_example_server_proof_covers_the_extension() {
    let mut s = xep_server();
    s.start(Some(XEP_CLIENT_FIRST.as_bytes()));
    s.credentials(Ok(Some(xep_stored())));
    let stripped = XEP_CLIENT_FINAL.replace(",x=19C6532F-1CF4-4A27-A18D-DC9CEA41BBB3", "");
    match s.step(stripped.as_bytes()) {
        ServerStep::Failure(e) => assert_eq!(e.failure(), &ServerFailure::BadCredentials),
        other => panic!("{other:?}"),
    }
}

/// The client half: our client sends the example's client-first, accepts the
/// example's server-first (its `h=` matches what it saw advertised), and the
/// example's server accepts its proof. It sends no `x=`, so its client-final
/// is not the example's.
#[test]
fn xep_example_client() {
    let mut c = xep_client(Some(xep_ssdp()), true);
    let first = c.initial_response().unwrap().unwrap();
    assert_eq!(String::from_utf8(first).unwrap(), XEP_CLIENT_FIRST);
    let fin = c.respond(XEP_SERVER_FIRST.as_bytes()).unwrap();
    let fin = String::from_utf8(fin).unwrap();
    assert!(fin.starts_with(
        "c=cD10bHMtZXhwb3J0ZXIsLFRISVMgSVMgRkFLRSBDQiBEQVRB,r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6a09117a6-ac50-4f2f-93f1-93799c2bddf6,p="
    ));

    let mut s = xep_server();
    s.start(Some(XEP_CLIENT_FIRST.as_bytes()));
    s.credentials(Ok(Some(xep_stored())));
    match s.step(fin.as_bytes()) {
        ServerStep::Success { additional, .. } => {
            // The server signature depends on client-final-without-proof, so
            // it differs from the example's.
            let v = additional.unwrap();
            assert_ne!(v, XEP_SERVER_FINAL.as_bytes());
            c.success(Some(&v)).unwrap();
        }
        other => panic!("{other:?}"),
    }
}

/// A MITM stripped something from the features: the client's lists differ
/// from the server's, and the example's `h=` gives it away.
#[test]
fn tampered_lists_are_a_downgrade() {
    let tampered = [
        // -PLUS removed from the mechanisms.
        Ssdp::new(
            ["SCRAM-SHA-1"],
            cb_types(&["tls-exporter", "tls-server-end-point"]),
        ),
        // tls-exporter removed.
        Ssdp::new(
            ["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"],
            cb_types(&["tls-server-end-point"]),
        ),
        // The whole XEP-0440 element removed, or emptied.
        Ssdp::new(["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"], None),
        Ssdp::new(["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"], Some(vec![])),
        // Something added.
        Ssdp::new(
            ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"],
            cb_types(&["tls-exporter", "tls-server-end-point"]),
        ),
    ];
    for ssdp in tampered {
        for require in [false, true] {
            let e = answer(xep_client(Some(ssdp.clone()), require), XEP_SERVER_FIRST).unwrap_err();
            assert_eq!(e, ClientError::Downgrade, "{ssdp:?}");
            assert_eq!(e.kind(), ErrorKind::Downgrade);
            let text = e.to_string();
            assert!(text.contains("downgrade detected"), "{text}");
            assert!(text.contains("XEP-0474"), "{text}");
        }
    }
}

/// An `h=` computed with the other hash, or for other lists, or otherwise
/// rewritten in transit.
#[test]
fn a_wrong_h_is_a_downgrade() {
    let sha256 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        xep_ssdp().digest(ScramHash::Sha256),
    );
    for h in [sha256.as_str(), "AAAA", "H6k/rBLDqgOhRRaCuuatSDFkJ08="] {
        let sf = XEP_SERVER_FIRST.replace(XEP_H, h);
        let e = answer(xep_client(Some(xep_ssdp()), false), &sf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Downgrade, "{h}");
    }
}

#[test]
fn a_malformed_h_is_malformed() {
    for bad in [
        ",h=",
        ",h=G6k/rBLDqgOhRRaCuuatSDFkJ08",
        ",h=G6k/rBLDqgOhRRaCuuatSDFkJ08=!",
        ",h=%%%%",
        // Twice, even when both match.
        ",h=G6k/rBLDqgOhRRaCuuatSDFkJ08=,h=G6k/rBLDqgOhRRaCuuatSDFkJ08=",
    ] {
        let sf = XEP_SERVER_FIRST.replace(",h=G6k/rBLDqgOhRRaCuuatSDFkJ08=", bad);
        let e = answer(xep_client(Some(xep_ssdp()), false), &sf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed, "{bad}: {e}");
    }
}

#[test]
fn h_is_ignored_without_lists_to_compare() {
    // The client saw nothing to compare `h=` with: it goes on.
    let sf = XEP_SERVER_FIRST.replace(XEP_H, "AAAA");
    assert!(answer(xep_client(None, false), &sf).is_ok());
    assert!(answer(xep_client(None, false), XEP_SERVER_FIRST).is_ok());
}

#[test]
fn requiring_protection_without_lists_fails_before_sending() {
    let mut c = xep_client(None, true);
    let e = c.initial_response().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Local);
}

fn scram_offer() -> Ssdp {
    Ssdp::new(
        Mechanism::ALL
            .iter()
            .filter(|m| m.as_str().starts_with("SCRAM-"))
            .map(|m| m.as_str()),
        cb_types(&["tls-exporter"]),
    )
}

fn store() -> MemoryStore {
    let store = MemoryStore::new();
    store
        .add("juliet", "r0m30myr0m30", &["example.com"])
        .unwrap();
    store
}

/// A client that binds for `-PLUS`, and cannot bind otherwise (a client
/// that could would send `y`, which a server offering `-PLUS` refuses).
fn creds(m: Mechanism) -> ClientCredentials {
    let c = ClientCredentials::new("juliet", "r0m30myr0m30", "example.com");
    if !m.is_plus() {
        return c;
    }
    c.with_channel_binding(ClientChannelBinding::Use(ChannelBinding::new(
        ChannelBindingType::TlsExporter,
        vec![7; 32],
    )))
}

fn server_cfg() -> ServerMechanismConfig {
    ServerMechanismConfig::new("example.com").with_channel_bindings(vec![ChannelBinding::new(
        ChannelBindingType::TlsExporter,
        vec![7; 32],
    )])
}

const SCRAM: [Mechanism; 4] = [
    Mechanism::ScramSha1,
    Mechanism::ScramSha1Plus,
    Mechanism::ScramSha256,
    Mechanism::ScramSha256Plus,
];

/// All four SCRAM servers send `h=`; a client that requires it and saw the
/// same lists authenticates.
#[test]
fn every_scram_variant_round_trips_with_h() {
    let cfg = server_cfg().with_ssdp(scram_offer());
    for m in SCRAM {
        let mut server = server_mechanism(m, &cfg).unwrap();
        let c = creds(m).with_ssdp(scram_offer()).require_ssdp(true);
        let mut client = client_mechanism(m, c).unwrap();
        assert_eq!(
            run(client.as_mut(), server.as_mut(), &store()),
            Ok(("juliet".into(), None)),
            "{m}"
        );

        // And the server-first carries the right h= for the variant's hash.
        let hash = if matches!(m, Mechanism::ScramSha1 | Mechanism::ScramSha1Plus) {
            ScramHash::Sha1
        } else {
            ScramHash::Sha256
        };
        let mut server = server_mechanism(m, &cfg).unwrap();
        let mut client = client_mechanism(m, creds(m)).unwrap();
        let ServerStep::NeedCredentials { username } =
            server.start(client.initial_response().unwrap().as_deref())
        else {
            panic!()
        };
        let ServerStep::Challenge(sf) = server.credentials(Ok(store().get(&username))) else {
            panic!()
        };
        let sf = String::from_utf8(sf).unwrap();
        let (_, h) = sf.split_once(",h=").unwrap();
        assert_eq!(base64_decode(h), scram_offer().digest(hash), "{m}");
    }
}

/// A client whose lists differ from the server's fails against our server,
/// whatever the variant.
#[test]
fn every_scram_variant_detects_a_downgrade() {
    let cfg = server_cfg().with_ssdp(scram_offer());
    let stripped = Ssdp::new(["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"], None);
    for m in SCRAM {
        let mut server = server_mechanism(m, &cfg).unwrap();
        let mut client = client_mechanism(m, creds(m).with_ssdp(stripped.clone())).unwrap();
        let e = run(client.as_mut(), server.as_mut(), &store()).unwrap_err();
        assert!(e.contains("downgrade detected"), "{m}: {e}");
    }
}

/// A server without XEP-0474: fine unless the client requires it.
#[test]
fn missing_h() {
    let cfg = server_cfg();
    for m in SCRAM {
        let c = creds(m).with_ssdp(scram_offer());
        let mut client = client_mechanism(m, c.clone()).unwrap();
        let mut server = server_mechanism(m, &cfg).unwrap();
        assert!(
            run(client.as_mut(), server.as_mut(), &store()).is_ok(),
            "{m}"
        );

        let mut client = client_mechanism(m, c.require_ssdp(true)).unwrap();
        let mut server = server_mechanism(m, &cfg).unwrap();
        let e = run(client.as_mut(), server.as_mut(), &store()).unwrap_err();
        assert!(
            e.contains("the server does not support XEP-0474 downgrade protection"),
            "{m}: {e}"
        );
    }
    let e = answer(
        xep_client(Some(xep_ssdp()), true),
        XEP_SERVER_FIRST.split(",h=").next().unwrap(),
    )
    .unwrap_err();
    assert_eq!(e, ClientError::NoDowngradeProtection);
    assert_eq!(e.kind(), ErrorKind::Downgrade);
}

/// XEP-0474 0.3's `d=` (a differently built value) is an unknown extension:
/// not checked, not a failure, not a substitute for `h=`.
#[test]
fn d_is_ignored() {
    let d = ",d=c29tZXRoaW5nIGVsc2U=";
    let without_h = XEP_SERVER_FIRST.split(",h=").next().unwrap();
    // d= alone.
    let sf = format!("{without_h}{d}");
    assert!(answer(xep_client(Some(xep_ssdp()), false), &sf).is_ok());
    let e = answer(xep_client(Some(xep_ssdp()), true), &sf).unwrap_err();
    assert_eq!(e, ClientError::NoDowngradeProtection);
    // d= next to a matching h=, either side.
    for sf in [
        format!("{XEP_SERVER_FIRST}{d}"),
        format!("{without_h}{d},h={XEP_H}"),
    ] {
        assert!(
            answer(xep_client(Some(xep_ssdp()), true), &sf).is_ok(),
            "{sf}"
        );
    }
}

/// Extensions stay in AuthMessage as received: one a MITM adds to our
/// server's server-first makes the server refuse the client's proof.
#[test]
fn an_added_extension_breaks_the_proof() {
    let mut server = xep_server();
    let mut client = xep_client(Some(xep_ssdp()), true);
    let first = client.initial_response().unwrap().unwrap();
    server.start(Some(&first));
    let ServerStep::Challenge(sf) = server.credentials(Ok(Some(xep_stored()))) else {
        panic!()
    };
    let mut sf = sf;
    sf.extend_from_slice(b",d=AAAA");
    let fin = client.respond(&sf).unwrap();
    match server.step(&fin) {
        ServerStep::Failure(e) => assert_eq!(e.failure(), &ServerFailure::BadCredentials),
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Truncated or garbled server-first messages around `h=` never panic,
    /// and never pass a client that requires the protection unless `h=`
    /// survived intact.
    #[test]
    fn garbled_server_first_never_panics(
        cut in 0usize..200,
        edits in proptest::collection::vec((0usize..200, any::<u8>()), 0..4),
        require in any::<bool>(),
        lists in any::<bool>(),
    ) {
        let mut sf = XEP_SERVER_FIRST.as_bytes().to_vec();
        for (at, byte) in edits {
            if sf.is_empty() {
                break;
            }
            let at = at % sf.len();
            sf[at] = byte;
        }
        sf.truncate(cut.min(sf.len()));
        let ssdp = lists.then(xep_ssdp);
        let mut c = xep_client(ssdp, require && lists);
        c.initial_response().unwrap();
        let verdict = c.respond(&sf);
        if verdict.is_ok() && require && lists {
            let text = String::from_utf8(sf).unwrap();
            prop_assert!(text.contains(&format!(",h={XEP_H}")), "{}", text);
        }
    }

    /// Arbitrary `h=` values: an error or success, never a panic; success
    /// only for the right value (maybe followed by other extensions).
    #[test]
    fn arbitrary_h_values(h in "[ -~]{0,64}") {
        let without_h = XEP_SERVER_FIRST.split(",h=").next().unwrap();
        let sf = format!("{without_h},h={h}");
        let verdict = answer(xep_client(Some(xep_ssdp()), true), &sf);
        if verdict.is_ok() {
            prop_assert!(h == XEP_H || h.starts_with(&format!("{XEP_H},")), "{}", h);
        }
    }
}
