//! Mechanism names: the known table, parsing, unknown names from peers, and the
//! properties the stream layer decides with.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use xmpp_sasl::{Mechanism, MechanismName, UnknownMechanism};

const NAMES: [&str; 6] = [
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "DIGEST-MD5",
    "PLAIN",
];

#[test]
fn every_known_name_round_trips() {
    assert_eq!(Mechanism::ALL.map(Mechanism::as_str), NAMES);
    for m in Mechanism::ALL {
        assert_eq!(m.as_str().parse::<Mechanism>(), Ok(m));
        assert_eq!(Mechanism::from_name(m.as_str()), Some(m));
        assert_eq!(m.to_string(), m.as_str());
        assert_eq!(m, m.as_str());
        let n: MechanismName = m.as_str().parse().unwrap();
        assert_eq!(n.known(), Some(m));
        assert_eq!(n, MechanismName::from(m));
        assert_eq!(n, MechanismName::from(m.as_str().to_owned()));
        assert_eq!(n.as_str(), m.as_str());
        assert_eq!(n.to_string(), m.as_str());
    }
    let distinct: HashSet<&str> = NAMES.into_iter().collect();
    assert_eq!(distinct.len(), Mechanism::ALL.len());
}

#[test]
fn names_are_case_sensitive_except_for_people() {
    for m in Mechanism::ALL {
        let lower = m.as_str().to_ascii_lowercase();
        assert_eq!(Mechanism::from_name(&lower), None);
        assert!(lower.parse::<Mechanism>().is_err());
        assert_eq!(MechanismName::new(&lower).known(), None);
        assert_eq!(Mechanism::from_name_ignore_ascii_case(&lower), Ok(m));
    }
    assert!(Mechanism::from_name_ignore_ascii_case("X-FOO").is_err());
}

#[test]
fn unknown_names_are_kept_as_sent() {
    for name in [
        "X-OAUTH2",
        "SCRAM-SHA-512",
        "SCRAM-SHA-512-PLUS",
        "scram-sha-1",
        "PLAIN ",
        "",
    ] {
        let n = MechanismName::new(name);
        assert_eq!(n.known(), None, "{name:?}");
        assert_eq!(n.as_str(), name);
        assert_eq!(n, name);
        assert_eq!(n.to_string(), name);
        assert_eq!(format!("{n:?}"), format!("{name:?}"));
        let err: UnknownMechanism = name.parse::<Mechanism>().unwrap_err();
        assert_eq!(err.name(), name);
    }
    // A list of names prints as the list of strings it came from.
    let offered: Vec<MechanismName> = ["PLAIN", "X-OAUTH2"].map(MechanismName::from).into();
    assert_eq!(format!("{offered:?}"), r#"["PLAIN", "X-OAUTH2"]"#);
    // Names sort by their text.
    let mut sorted = offered.clone();
    sorted.sort();
    assert_eq!(sorted, ["PLAIN", "X-OAUTH2"]);
    assert_ne!(MechanismName::new("X-OAUTH2"), Mechanism::Plain);
}

#[test]
fn unknown_mechanism_says_what_is_supported() {
    let err = "X-FOO".parse::<Mechanism>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown mechanism \"X-FOO\" (supported: SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, \
         SCRAM-SHA-256, SCRAM-SHA-1, DIGEST-MD5, PLAIN)"
    );
}

#[test]
fn plus_and_secure_channel() {
    use Mechanism::*;
    // (mechanism, is_plus, sends_password, needs_secure_channel)
    let table = [
        (ScramSha256Plus, true, false, true),
        (ScramSha1Plus, true, false, true),
        (ScramSha256, false, false, false),
        (ScramSha1, false, false, false),
        (DigestMd5, false, false, false),
        (Plain, false, true, true),
    ];
    assert_eq!(table.map(|t| t.0), Mechanism::ALL);
    for (m, plus, password, secure) in table {
        assert_eq!(m.is_plus(), plus, "{m}");
        assert_eq!(MechanismName::from(m).is_plus(), plus, "{m}");
        assert_eq!(m.is_plus(), m.as_str().ends_with("-PLUS"), "{m}");
        assert_eq!(m.sends_password(), password, "{m}");
        assert_eq!(m.needs_secure_channel(), secure, "{m}");
    }
    // An unknown -PLUS offer still counts as one (it decides the GS2 flag).
    assert!(MechanismName::new("SCRAM-SHA-512-PLUS").is_plus());
    assert!(!MechanismName::new("SCRAM-SHA-512").is_plus());
    assert!(!MechanismName::new("X-OAUTH2").is_plus());
}

#[test]
fn default_orders() {
    // Strongest first, as the seed and RFC 6120's advice have it; a server
    // lists them in this order and a client prefers them in this order.
    assert_eq!(Mechanism::DEFAULT_OFFER.map(Mechanism::as_str), NAMES);
    assert_eq!(Mechanism::DEFAULT_PREFERENCE.map(Mechanism::as_str), NAMES);
    assert_eq!(
        xmpp_sasl::MechanismSelector::default().preference(),
        Mechanism::DEFAULT_PREFERENCE
    );
    // What a stream without TLS offers by default.
    let insecure: Vec<Mechanism> = Mechanism::DEFAULT_OFFER
        .into_iter()
        .filter(|m| !m.needs_secure_channel())
        .collect();
    assert_eq!(
        insecure,
        [
            Mechanism::ScramSha256,
            Mechanism::ScramSha1,
            Mechanism::DigestMd5
        ]
    );
}
