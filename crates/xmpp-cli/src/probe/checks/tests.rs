use super::super::report::{
    Certificate, Dns, Endpoint, Features, Host, Level, SrvName, StreamHeader, Tls,
};
use super::Checks;

fn header(from: &str) -> StreamHeader {
    StreamHeader {
        version: Some("1.0".into()),
        id: Some("abc".into()),
        from: Some(from.into()),
        lang: None,
        ms: 1.0,
    }
}

fn tls(days_left: i64, verify_error: Option<&str>) -> Tls {
    Tls {
        ok: true,
        error: None,
        version: Some("TLS1.3".into()),
        cipher: Some("TLS13_AES_128_GCM_SHA256".into()),
        alpn: None,
        ms: Some(1.0),
        versions: Vec::new(),
        certificates: vec![Certificate {
            subject: "CN=example.org".into(),
            issuer: "CN=Test CA".into(),
            names: vec!["example.org".into()],
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            days_left,
        }],
        verified: verify_error.is_none(),
        verify_error: verify_error.map(str::to_owned),
        ocsp_stapled: false,
    }
}

fn endpoint(before: Features, tls: Option<Tls>, after: Option<Features>) -> Endpoint {
    Endpoint {
        name: "xmpp.example.org:5222 (STARTTLS)".into(),
        host: "xmpp.example.org".into(),
        port: 5222,
        address: Some("192.0.2.1:5222".into()),
        transport: "starttls",
        reachable: true,
        connect_ms: Some(1.0),
        error: None,
        stream: Some(header("example.org")),
        features_before_tls: Some(before),
        tls,
        stream_after_tls: Some(header("example.org")),
        features_after_tls: after,
        downgrade_protection: None,
    }
}

fn mechanisms(list: &[&str]) -> Features {
    Features {
        mechanisms: list.iter().map(|m| (*m).to_owned()).collect(),
        ..Features::default()
    }
}

fn starttls(required: bool) -> Features {
    Features {
        starttls: true,
        starttls_required: required,
        ..Features::default()
    }
}

/// `(id, level, message)` of every check.
fn run(f: impl FnOnce(&mut Checks)) -> Vec<(&'static str, Level, String)> {
    let mut c = Checks::new();
    f(&mut c);
    c.finish()
        .0
        .into_iter()
        .map(|c| (c.id, c.level, c.message))
        .collect()
}

fn find(all: &[(&'static str, Level, String)], id: &str) -> (Level, String) {
    let (_, l, m) = all
        .iter()
        .find(|(i, _, _)| *i == id)
        .unwrap_or_else(|| panic!("no {id} in {all:?}"));
    (*l, m.clone())
}

#[test]
fn certificate_expiry_thresholds() {
    for (days, level, words) in [
        (90, Level::Ok, "valid for 90 more days"),
        (5, Level::Warning, "the certificate expires in 5 days"),
        (0, Level::Warning, "the certificate expires within a day"),
        (
            -1,
            Level::Error,
            "the certificate expired less than a day ago",
        ),
        (-4, Level::Error, "the certificate expired 3 days ago"),
    ] {
        let after = mechanisms(&["SCRAM-SHA-256"]);
        let e = endpoint(starttls(true), Some(tls(days, None)), Some(after));
        let all = run(|c| c.endpoint(&e, "example.org"));
        let (l, m) = find(&all, "tls.certificate.expiry");
        assert_eq!(l, level, "{m}");
        assert!(m.contains(words), "{m}");
    }
}

#[test]
fn tls_optional_and_plain_before_tls() {
    let mut before = starttls(false);
    before.mechanisms = vec!["PLAIN".into()];
    let e = endpoint(before, Some(tls(90, None)), Some(mechanisms(&["PLAIN"])));
    let all = run(|c| c.endpoint(&e, "example.org"));
    assert_eq!(find(&all, "tls.required").0, Level::Warning);
    assert_eq!(
        find(&all, "tls.required").1,
        "STARTTLS is offered but not required"
    );
    assert_eq!(find(&all, "sasl.plain_without_tls").0, Level::Error);
    assert_eq!(
        find(&all, "sasl.scram_sha256"),
        (Level::Warning, "no SCRAM-SHA-256".into())
    );
}

#[test]
fn weak_mechanisms_and_a_wrong_from() {
    let mut e = endpoint(
        starttls(true),
        Some(tls(90, Some("invalid peer certificate: NotValidForName"))),
        Some(mechanisms(&["SCRAM-SHA-256", "DIGEST-MD5"])),
    );
    e.stream_after_tls = Some(header("other.example"));
    let all = run(|c| c.endpoint(&e, "example.org"));
    assert_eq!(find(&all, "sasl.weak").0, Level::Warning);
    assert!(find(&all, "sasl.weak")
        .1
        .starts_with("DIGEST-MD5 is offered"));
    assert_eq!(find(&all, "stream.from").0, Level::Error);
    assert_eq!(find(&all, "tls.certificate.verify").0, Level::Error);
    let mut c = Checks::new();
    c.endpoint(&e, "example.org");
    let (_, fixes) = c.finish();
    // Errors first.
    assert!(
        fixes[0].contains("not \"example.org\"") || fixes[0].contains("does not verify"),
        "{fixes:?}"
    );
    assert!(
        fixes.iter().any(|f| f.contains("names the XMPP domain")),
        "{fixes:?}"
    );
}

#[test]
fn dns_findings() {
    let none = |name: &str| SrvName {
        name: name.into(),
        status: "none",
        records: Vec::new(),
        error: None,
    };
    let dns = Dns {
        resolver: "system".into(),
        starttls: none("_xmpp-client._tcp.example.org"),
        direct_tls: none("_xmpps-client._tcp.example.org"),
        fallback: true,
        hosts: vec![Host {
            name: "example.org".into(),
            addresses: vec!["192.0.2.1".into()],
            cname: Some("web.example.net".into()),
            error: None,
        }],
    };
    let all = run(|c| c.dns(&dns, "example.org"));
    let (l, m) = find(&all, "dns.srv");
    assert_eq!(l, Level::Warning);
    assert!(m.contains("fall back to example.org:5222"), "{m}");
    assert_eq!(find(&all, "dns.cname").0, Level::Error);
    let (l, m) = find(&all, "dns.families");
    assert_eq!(l, Level::Warning);
    assert!(m.contains("only IPv4"), "{m}");
}
