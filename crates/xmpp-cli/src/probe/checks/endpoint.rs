//! The verdicts on one endpoint: its stream headers, TLS, certificate and
//! features.

use super::super::report::{Endpoint, Features, StreamHeader, Tls};
use super::{is_plaintext, join, Checks};

/// Weak or obsolete SASL mechanisms and why.
const WEAK: [(&str, &str); 3] = [
    (
        "DIGEST-MD5",
        "obsolete (RFC 6331), and it needs plaintext-equivalent passwords on the server",
    ),
    (
        "CRAM-MD5",
        "obsolete, and it needs plaintext-equivalent passwords on the server",
    ),
    ("LOGIN", "non-standard, and it sends the password as it is"),
];

impl Checks {
    /// One endpoint.
    pub fn endpoint(&mut self, e: &Endpoint, domain: &str) {
        let s = e.name.as_str();
        if !e.reachable {
            let why = e.error.clone().unwrap_or_default();
            self.error(
                "endpoint.reachable",
                s,
                format!("unreachable: {why}"),
                "check that the server listens there and that no firewall is in the way",
            );
            return;
        }
        let addr = e.address.as_deref().unwrap_or("?");
        self.ok(
            "endpoint.reachable",
            s,
            format!(
                "reachable at {addr} in {:.1} ms",
                e.connect_ms.unwrap_or(0.0)
            ),
        );
        let first = if e.transport == "starttls" {
            "before TLS"
        } else {
            "over TLS"
        };
        for (header, when) in [(&e.stream, first), (&e.stream_after_tls, "after TLS")] {
            if let Some(h) = header {
                self.header(s, h, domain, when);
            }
        }
        if e.transport == "starttls" {
            if let Some(f) = &e.features_before_tls {
                self.before_tls(s, f, e.tls.is_some());
            }
        }
        if let Some(tls) = &e.tls {
            self.tls(s, tls, domain);
        }
        let last = e
            .features_after_tls
            .as_ref()
            .or(e.features_before_tls.as_ref());
        if let Some(f) = last {
            self.features(s, f, e.tls.as_ref().is_some_and(|t| t.ok));
        }
        match e.downgrade_protection {
            Some(true) => self.ok("sasl.downgrade_protection", s, "SCRAM carries XEP-0474 downgrade protection".into()),
            Some(false) => self.warn(
                "sasl.downgrade_protection",
                s,
                "SCRAM without XEP-0474 downgrade protection".into(),
                "upgrade to a server version with XEP-0474 (SSDP), so clients can detect a stripped mechanism list",
            ),
            None => {}
        }
        if let Some(why) = &e.error {
            self.error(
                "endpoint.negotiation",
                s,
                format!("the negotiation stopped: {why}"),
                "see the server's log for why it ended the stream",
            );
        }
    }

    fn header(&mut self, s: &str, h: &StreamHeader, domain: &str, when: &str) {
        let version = h.version.as_deref().unwrap_or("(none)");
        if version != "1.0" {
            self.error(
                "stream.version",
                s,
                format!("stream version {version}, not 1.0"),
                "upgrade the server: RFC 6120 streams are version 1.0",
            );
        }
        match h.from.as_deref() {
            Some(f) if f.eq_ignore_ascii_case(domain) => {}
            Some(f) => self.error(
                "stream.from",
                s,
                format!("the stream comes from {f:?}, not {domain:?}"),
                "serve this domain on this endpoint (its stream header must say from='DOMAIN')",
            ),
            None => self.error(
                "stream.from",
                s,
                "the stream header has no from".into(),
                "upgrade the server: RFC 6120 §4.7.1 requires from",
            ),
        }
        if h.id.is_none() {
            self.error(
                "stream.id",
                s,
                "the stream header has no id".into(),
                "upgrade the server: RFC 6120 §4.7.3 requires an id",
            );
        }
        if version == "1.0"
            && h.id.is_some()
            && h.from
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case(domain))
        {
            self.ok(
                "stream.header",
                s,
                format!(
                    "stream header {when}: version 1.0, from {domain}, in {:.1} ms",
                    h.ms
                ),
            );
        }
    }

    fn before_tls(&mut self, s: &str, f: &Features, tls_attempted: bool) {
        if !f.starttls {
            self.error(
                "tls.offered",
                s,
                "STARTTLS is not offered".into(),
                "configure a certificate and enable STARTTLS",
            );
            return;
        }
        if f.starttls_required {
            self.ok("tls.required", s, "STARTTLS is offered and required".into());
        } else {
            self.warn(
                "tls.required",
                s,
                "STARTTLS is offered but not required".into(),
                "require TLS (Prosody: c2s_require_encryption = true; ejabberd: starttls_required: true)",
            );
        }
        let clear: Vec<&String> = f.mechanisms.iter().filter(|m| is_plaintext(m)).collect();
        if !clear.is_empty() && tls_attempted {
            self.error(
                "sasl.plain_without_tls",
                s,
                format!(
                    "{} offered before TLS: passwords can cross the network in the clear",
                    join(&clear)
                ),
                "offer PLAIN only after TLS (Prosody: allow_unencrypted_plain_auth = false)",
            );
        }
    }

    fn tls(&mut self, s: &str, tls: &Tls, domain: &str) {
        if !tls.ok {
            let why = tls.error.as_deref().unwrap_or("unknown");
            self.error(
                "tls.handshake",
                s,
                format!("TLS handshake failed: {why}"),
                "check the server's TLS configuration and certificate",
            );
        } else {
            let mut m = format!(
                "{} with {}",
                tls.version.as_deref().unwrap_or("?"),
                tls.cipher.as_deref().unwrap_or("?")
            );
            if let Some(p) = &tls.alpn {
                m.push_str(&format!(", ALPN {p}"));
            }
            m.push_str(&format!(", {:.1} ms", tls.ms.unwrap_or(0.0)));
            self.ok("tls.handshake", s, m);
        }
        let accepted: Vec<&str> = tls
            .versions
            .iter()
            .filter(|v| v.accepted)
            .map(|v| v.version)
            .collect();
        if !tls.versions.is_empty() {
            if accepted.contains(&"TLS1.3") {
                self.ok(
                    "tls.versions",
                    s,
                    format!(
                        "accepts {} (older versions not tested)",
                        accepted.join(", ")
                    ),
                );
            } else {
                self.warn(
                    "tls.versions",
                    s,
                    format!(
                        "TLS 1.3 is not accepted (accepts: {})",
                        if accepted.is_empty() {
                            "none".into()
                        } else {
                            accepted.join(", ")
                        }
                    ),
                    "enable TLS 1.3",
                );
            }
        }
        if let Some(leaf) = tls.certificates.first() {
            self.ok(
                "tls.certificate",
                s,
                format!(
                    "certificate for {} issued by {}",
                    if leaf.names.is_empty() {
                        leaf.subject.clone()
                    } else {
                        leaf.names.join(", ")
                    },
                    leaf.issuer
                ),
            );
            match leaf.days_left {
                // Rounded down: -1 is "less than a day ago".
                d if d < 0 => self.error(
                    "tls.certificate.expiry",
                    s,
                    match -d - 1 {
                        0 => format!(
                            "the certificate expired less than a day ago ({})",
                            leaf.not_after
                        ),
                        1 => format!("the certificate expired 1 day ago ({})", leaf.not_after),
                        n => format!("the certificate expired {n} days ago ({})", leaf.not_after),
                    },
                    "renew the certificate",
                ),
                0 => self.warn(
                    "tls.certificate.expiry",
                    s,
                    format!("the certificate expires within a day ({})", leaf.not_after),
                    "renew the certificate now, or check that automatic renewal works",
                ),
                d if d < 14 => self.warn(
                    "tls.certificate.expiry",
                    s,
                    format!("the certificate expires in {d} days ({})", leaf.not_after),
                    "renew the certificate now, or check that automatic renewal works",
                ),
                d => self.ok(
                    "tls.certificate.expiry",
                    s,
                    format!(
                        "the certificate is valid for {d} more days ({})",
                        leaf.not_after
                    ),
                ),
            }
        }
        match &tls.verify_error {
            None if tls.verified => self.ok(
                "tls.certificate.verify",
                s,
                format!("the certificate verifies for {domain}"),
            ),
            None => {}
            Some(why) => {
                let fix = if why.contains("xpired") || why.contains("NotValidYet") {
                    "renew the certificate (or check the server's clock)"
                } else if why.contains("NotValidForName") || why.contains("not valid for name") {
                    "get a certificate that names the XMPP domain itself (not only the host)"
                } else if why.contains("UnknownIssuer") || why.contains("unknown issuer") {
                    "use a certificate from a CA clients trust, and send the whole chain"
                } else {
                    "fix the certificate so that it verifies for the domain"
                };
                self.error(
                    "tls.certificate.verify",
                    s,
                    format!("the certificate does not verify for {domain}: {why}"),
                    fix,
                );
            }
        }
        if tls.ocsp_stapled {
            self.ok("tls.ocsp", s, "an OCSP response is stapled".into());
        }
    }

    fn features(&mut self, s: &str, f: &Features, over_tls: bool) {
        let sasl2 = f.sasl2.as_ref();
        let mut all: Vec<&String> = f.mechanisms.iter().collect();
        if let Some(x) = sasl2 {
            all.extend(x.mechanisms.iter().filter(|m| !f.mechanisms.contains(m)));
        }
        if all.is_empty() {
            self.error(
                "sasl.mechanisms",
                s,
                "no SASL mechanism is offered".into(),
                "enable SASL authentication (SCRAM-SHA-256 at least)",
            );
            return;
        }
        self.ok(
            "sasl.mechanisms",
            s,
            format!("SASL mechanisms: {}", join(&f.mechanisms)),
        );
        if !over_tls {
            let clear: Vec<&&String> = all.iter().filter(|m| is_plaintext(m)).collect();
            if !clear.is_empty() {
                self.error(
                    "sasl.plain_without_tls",
                    s,
                    "PLAIN is offered on a stream without TLS".into(),
                    "offer PLAIN only over TLS",
                );
            }
        }
        for (weak, why) in WEAK {
            if all.iter().any(|m| *m == weak) {
                self.warn(
                    "sasl.weak",
                    s,
                    format!("{weak} is offered: {why}"),
                    &format!("disable {weak}"),
                );
            }
        }
        if !all.iter().any(|m| m.starts_with("SCRAM-SHA-256")) {
            self.warn(
                "sasl.scram_sha256",
                s,
                "no SCRAM-SHA-256".into(),
                "enable SCRAM-SHA-256 (and store passwords as SCRAM hashes)",
            );
        }
        if over_tls {
            let plus = all.iter().any(|m| m.ends_with("-PLUS"));
            match (&f.channel_binding_types, plus) {
                (Some(types), true) => self.ok("sasl.channel_binding", s, format!("channel binding: -PLUS mechanisms, types {}", types.join(", "))),
                (None, true) => self.warn(
                    "sasl.channel_binding",
                    s,
                    "-PLUS mechanisms without the channel-binding types they support (XEP-0440)".into(),
                    "upgrade to a server version that lists its channel-binding types (XEP-0440)",
                ),
                (_, false) => self.warn("sasl.channel_binding", s, "no -PLUS mechanism: no channel binding".into(), "enable SCRAM-SHA-256-PLUS (channel binding protects logins from TLS interception)"),
            }
        }
        match sasl2 {
            Some(x) => {
                self.ok(
                    "sasl2",
                    s,
                    format!("SASL2 (XEP-0388): {}", join(&x.mechanisms)),
                );
                match &x.bind2 {
                    Some(inline) if inline.is_empty() => {
                        self.ok("bind2", s, "Bind2 (XEP-0386)".into())
                    }
                    Some(inline) => self.ok(
                        "bind2",
                        s,
                        format!("Bind2 (XEP-0386), inline: {}", inline.join(", ")),
                    ),
                    None => self.ok("bind2", s, "no Bind2 (XEP-0386) with SASL2".into()),
                }
                match &x.fast {
                    Some(m) => self.ok("fast", s, format!("FAST (XEP-0484): {}", m.join(", "))),
                    None => self.ok("fast", s, "no FAST tokens (XEP-0484)".into()),
                }
                let carbons = x
                    .bind2
                    .iter()
                    .flatten()
                    .any(|v| v.starts_with("urn:xmpp:carbons:"));
                self.ok(
                    "carbons",
                    s,
                    format!(
                        "message carbons (XEP-0280) {}with Bind2",
                        if carbons { "" } else { "not " }
                    ),
                );
            }
            None => self.warn(
                "sasl2",
                s,
                "no SASL2 (XEP-0388): current clients log in with more round trips".into(),
                "upgrade to a server with SASL2, Bind2 and FAST (Prosody 13, ejabberd 24.12)",
            ),
        }
        if sasl2.is_some_and(|x| x.sm) {
            self.ok(
                "sm",
                s,
                "stream management (XEP-0198), resumption inline with SASL2".into(),
            );
        } else if !f.sm.is_empty() {
            self.ok("sm", s, "stream management (XEP-0198)".into());
        } else {
            // Most servers list it only after login.
            self.ok(
                "sm",
                s,
                "stream management: not listed before login (log in to see)".into(),
            );
        }
        if f.csi {
            self.ok("csi", s, "client state indication (XEP-0352)".into());
        }
        if !f.compression.is_empty() {
            self.warn(
                "compression",
                s,
                format!(
                    "stream compression is offered ({})",
                    f.compression.join(", ")
                ),
                "disable stream compression: with TLS it leaks secrets (XEP-0138, CRIME)",
            );
        }
        if f.register {
            self.ok(
                "register",
                s,
                "in-band registration (XEP-0077) is open".into(),
            );
        }
    }
}
