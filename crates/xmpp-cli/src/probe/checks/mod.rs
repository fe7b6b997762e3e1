//! The verdicts: every line of the report's `checks`, each with a stable id,
//! a level and, for warnings and errors, a fix in plain words.

mod endpoint;
#[cfg(test)]
mod tests;

use super::report::{Check, Dns, Http, Level, Login};

/// Collects checks.
pub struct Checks {
    list: Vec<Check>,
}

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

    /// Another endpoint answered: an unreachable one is a warning, not an
    /// error (clients go on to the next target, after a delay).
    pub fn soften_unreachable(&mut self) {
        for c in &mut self.list {
            if c.id == "endpoint.reachable" && c.level == Level::Error {
                c.level = Level::Warning;
                c.fix = Some(
                    "make it answer, or remove it from DNS: clients try it before falling back to the next target"
                        .to_owned(),
                );
            }
        }
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
