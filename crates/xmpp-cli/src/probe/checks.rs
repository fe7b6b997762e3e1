//! The verdicts: every line of the report's `checks`, each with a stable id,
//! a level and, for warnings and errors, a fix in plain words.

use super::report::{Check, Dns, Endpoint, Features, Http, Level, Login, Tls};

/// Collects checks.
pub struct Checks {
    list: Vec<Check>,
}

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
    pub fn new() -> Self {
        Checks { list: Vec::new() }
    }

    fn push(
        &mut self,
        id: &'static str,
        subject: &str,
        level: Level,
        message: String,
        fix: Option<&str>,
    ) {
        self.list.push(Check {
            id,
            subject: subject.to_owned(),
            level,
            message,
            fix: fix.map(str::to_owned),
        });
    }

    fn ok(&mut self, id: &'static str, subject: &str, message: String) {
        self.push(id, subject, Level::Ok, message, None);
    }

    fn warn(&mut self, id: &'static str, subject: &str, message: String, fix: &str) {
        self.push(id, subject, Level::Warning, message, Some(fix));
    }

    fn error(&mut self, id: &'static str, subject: &str, message: String, fix: &str) {
        self.push(id, subject, Level::Error, message, Some(fix));
    }

    /// The checks, and the fixes of the warnings and errors (errors first,
    /// each once).
    pub fn finish(self) -> (Vec<Check>, Vec<String>) {
        let mut bad: Vec<&Check> = self.list.iter().filter(|c| c.level > Level::Ok).collect();
        bad.sort_by_key(|c| std::cmp::Reverse(c.level));
        let mut fixes: Vec<String> = Vec::new();
        for c in bad {
            if let Some(fix) = &c.fix {
                let line = format!("{}: {fix}", c.message);
                if !fixes.contains(&line) {
                    fixes.push(line);
                }
            }
        }
        (self.list, fixes)
    }

    /// The DNS section.
    pub fn dns(&mut self, dns: &Dns, domain: &str) {
        let s = "dns";
        for (name, direct) in [(&dns.starttls, false), (&dns.direct_tls, true)] {
            let shown: Vec<String> = name
                .records
                .iter()
                .map(|r| format!("{} {} {} {}", r.priority, r.weight, r.port, r.target))
                .collect();
            match (name.status, direct) {
                ("records", _) => {
                    self.ok("dns.srv", s, format!("{}: {}", name.name, shown.join(", ")))
                }
                ("error", _) => self.error(
                    "dns.srv",
                    s,
                    format!(
                        "{}: {}",
                        name.name,
                        name.error.as_deref().unwrap_or("query failed")
                    ),
                    "make the domain's name servers answer SRV queries",
                ),
                ("unavailable", false) if dns.direct_tls.status != "records" => self.error(
                    "dns.srv",
                    s,
                    format!(
                        "{} is \".\": the domain says it offers no XMPP client service",
                        name.name
                    ),
                    "remove the \".\" record, or publish the client service's SRV records",
                ),
                ("unavailable", _) => {
                    self.ok("dns.srv", s, format!("{} is \".\" (no service)", name.name))
                }
                (_, false) if dns.fallback => self.warn(
                    "dns.srv",
                    s,
                    format!(
                        "no {} or direct TLS records: clients fall back to {domain}:5222",
                        name.name
                    ),
                    "publish _xmpp-client._tcp (and _xmpps-client._tcp) SRV records",
                ),
                (_, false) => self.ok(
                    "dns.srv",
                    s,
                    format!("{}: no record (direct TLS only)", name.name),
                ),
                (_, true) => self.ok(
                    "dns.srv",
                    s,
                    format!(
                        "{}: no record (no direct TLS, XEP-0368; optional)",
                        name.name
                    ),
                ),
            }
        }
        for host in &dns.hosts {
            if let Some(alias) = &host.cname {
                self.error(
                    "dns.cname",
                    s,
                    format!(
                        "the SRV target {} is an alias (CNAME) of {alias}",
                        host.name
                    ),
                    "point the SRV record at the canonical name (RFC 2782 forbids aliases there)",
                );
            }
            if let Some(e) = &host.error {
                self.error(
                    "dns.address",
                    s,
                    format!("{}: {e}", host.name),
                    "publish A/AAAA records for the SRV target",
                );
                continue;
            }
            let v6 = host.addresses.iter().filter(|a| a.contains(':')).count();
            let v4 = host.addresses.len() - v6;
            match (v4, v6) {
                (0, 0) => self.error(
                    "dns.address",
                    s,
                    format!("{} has no address", host.name),
                    "publish A/AAAA records for the SRV target",
                ),
                (_, 0) | (0, _) => self.warn(
                    "dns.families",
                    s,
                    format!(
                        "{} has only IPv{} addresses: {}",
                        host.name,
                        if v6 == 0 { 4 } else { 6 },
                        host.addresses.join(", ")
                    ),
                    "publish both A and AAAA records, so that clients on either network can connect",
                ),
                _ => self.ok("dns.address", s, format!("{}: {}", host.name, host.addresses.join(", "))),
            }
        }
    }

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

    fn header(&mut self, s: &str, h: &super::report::StreamHeader, domain: &str, when: &str) {
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
                d if d < 0 => self.error(
                    "tls.certificate.expiry",
                    s,
                    format!(
                        "the certificate expired {} days ago ({})",
                        -d, leaf.not_after
                    ),
                    "renew the certificate",
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

    /// host-meta and WebSocket.
    pub fn http(&mut self, http: &Http) {
        let fetched: Vec<_> = http
            .host_meta
            .iter()
            .filter(|f| f.error.is_none())
            .collect();
        for f in &http.host_meta {
            match &f.error {
                None => self.ok("http.host_meta", &f.url, "found".into()),
                Some(e) if fetched.is_empty() => self.warn(
                    "http.host_meta",
                    &f.url,
                    format!("not found: {e}"),
                    "publish host-meta (XEP-0156) if web clients should connect",
                ),
                Some(e) => self.ok(
                    "http.host_meta",
                    &f.url,
                    format!("not found ({e}); the other format is"),
                ),
            }
        }
        for b in &http.bosh {
            self.ok("http.bosh", b, "BOSH endpoint listed (not tested)".into());
        }
        for ws in &http.websocket {
            if ws.url.starts_with("ws:") {
                self.warn(
                    "websocket.tls",
                    &ws.url,
                    "a WebSocket endpoint without TLS".into(),
                    "list only wss: endpoints",
                );
            }
            match &ws.error {
                None => self.ok(
                    "websocket.open",
                    &ws.url,
                    format!("opens an XMPP stream in {:.1} ms", ws.ms.unwrap_or(0.0)),
                ),
                Some(e) => self.error(
                    "websocket.open",
                    &ws.url,
                    format!("does not open an XMPP stream: {e}"),
                    "check the WebSocket endpoint (RFC 7395, subprotocol xmpp)",
                ),
            }
        }
    }

    /// The logins.
    pub fn login(&mut self, login: &Login) {
        let s = "login";
        if login.resumption.is_none() && !login.attempts.iter().all(|a| !a.ok) {
            self.warn(
                "sm",
                s,
                "no stream management with resumption (XEP-0198) after login".into(),
                "enable stream management with resumption (Prosody: smacks; ejabberd: mod_stream_mgmt)",
            );
        }
        if login.attempts.iter().any(|a| a.ok) {
            let carbons = login
                .server_features
                .iter()
                .any(|f| f.starts_with("urn:xmpp:carbons:"));
            if carbons {
                self.ok("carbons", s, "message carbons (XEP-0280)".into());
            } else {
                self.warn("carbons", s, "no message carbons (XEP-0280)".into(), "enable message carbons (Prosody: carbons; ejabberd: mod_carbons), so a user's devices see each other's messages");
            }
            if login.features_after_login.as_ref().is_some_and(|f| f.csi) {
                self.ok(
                    "csi",
                    s,
                    "client state indication (XEP-0352) after login".into(),
                );
            } else {
                self.warn("csi", s, "no client state indication (XEP-0352)".into(), "enable CSI (Prosody: csi_simple; ejabberd: mod_client_state), which saves mobile clients' battery");
            }
        }
        for m in &login.not_tried {
            self.ok("login.not_tried", s, format!("not tried: {m}"));
        }
        let attempts = login
            .attempts
            .iter()
            .chain(&login.fast)
            .chain(&login.resumption)
            .chain(&login.ping);
        for a in attempts {
            let what = match &a.mechanism {
                Some(m) => format!("{} {m}", a.profile),
                None => a.profile.to_owned(),
            };
            if a.ok {
                let rtt = a
                    .round_trips
                    .map(|n| format!("{n} round trips, "))
                    .unwrap_or_default();
                self.ok(
                    "login",
                    s,
                    format!("{what}: ok, {rtt}{:.1} ms", a.ms.unwrap_or(0.0)),
                );
            } else {
                let why = a.error.as_deref().unwrap_or("failed");
                self.error(
                    "login",
                    s,
                    format!("{what}: {why}"),
                    "see the server's log for why it refused the login",
                );
            }
        }
    }
}

fn is_plaintext(m: &str) -> bool {
    m == "PLAIN" || m == "LOGIN"
}

fn join<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
