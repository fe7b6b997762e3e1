//! What `xmpp probe` found: the report, serialised as `--json` (schema 1).
//!
//! The JSON schema is stable: fields are only ever added. Every section
//! that could not be examined is `null` (with the reason in an `error`
//! field or in a check), never left out.

use serde::Serialize;

/// The version of the JSON schema below.
pub const SCHEMA: u32 = 1;

/// A verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// As it should be.
    Ok,
    /// Works, but should be fixed.
    Warning,
    /// Broken, or unsafe.
    Error,
}

/// One verdict line.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// A stable identifier, e.g. `tls.certificate.expiry` (see `checks.rs`).
    pub id: &'static str,
    /// What it is about: `dns`, an endpoint (`127.0.0.1:5222 (STARTTLS)`),
    /// a URL, or `login`.
    pub subject: String,
    /// The verdict.
    pub level: Level,
    /// What was found, in plain words.
    pub message: String,
    /// What to do about it (warnings and errors).
    pub fix: Option<String>,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The domain probed.
    pub domain: String,
    /// The account logged in with, if credentials were given.
    pub jid: Option<String>,
    /// The worst verdict of all checks.
    pub verdict: Level,
    /// The exit code: 0 no errors, 1 errors, 5 nothing reachable.
    pub exit_code: i32,
    /// The DNS lookup; `null` with `--server`.
    pub dns: Option<Dns>,
    /// Every endpoint tried, in DNS order.
    pub endpoints: Vec<Endpoint>,
    /// host-meta and the WebSocket/BOSH endpoints it lists.
    pub http: Option<Http>,
    /// The logins, with credentials.
    pub login: Option<Login>,
    /// Every verdict line, in the order found.
    pub checks: Vec<Check>,
    /// The fixes of the warnings and errors, worst first, without repeats.
    pub fixes: Vec<String>,
}

/// What one SRV name held.
#[derive(Debug, Serialize)]
pub struct SrvName {
    /// The name queried, e.g. `_xmpp-client._tcp.example.org`.
    pub name: String,
    /// `records`, `none`, `unavailable` (a lone `.`) or `error`.
    pub status: &'static str,
    /// The records as published.
    pub records: Vec<SrvRecord>,
    /// Why the query failed.
    pub error: Option<String>,
}

/// One SRV record.
#[derive(Debug, Serialize)]
pub struct SrvRecord {
    /// Priority (lower first).
    pub priority: u16,
    /// Weight within a priority.
    pub weight: u16,
    /// Port.
    pub port: u16,
    /// Target host (`.` for "no service").
    pub target: String,
}

/// A host the records point to.
#[derive(Debug, Serialize)]
pub struct Host {
    /// The name.
    pub name: String,
    /// Its IPv4 and IPv6 addresses.
    pub addresses: Vec<String>,
    /// The name it is an alias of, if it is a CNAME (RFC 2782 forbids it).
    pub cname: Option<String>,
    /// Why the lookup failed.
    pub error: Option<String>,
}

/// The DNS section.
#[derive(Debug, Serialize)]
pub struct Dns {
    /// `system`, or the name server asked (`--resolver`).
    pub resolver: String,
    /// `_xmpp-client._tcp`: STARTTLS.
    pub starttls: SrvName,
    /// `_xmpps-client._tcp`: direct TLS (XEP-0368).
    pub direct_tls: SrvName,
    /// No SRV record: the domain itself on port 5222.
    pub fallback: bool,
    /// The hosts named, each once.
    pub hosts: Vec<Host>,
}

/// One endpoint: an address, a port and how TLS starts.
#[derive(Debug, Serialize)]
pub struct Endpoint {
    /// `host:port (STARTTLS)` or `(direct TLS)`: the subject of its checks.
    pub name: String,
    /// The host name (or address) as found.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The address connected to.
    pub address: Option<String>,
    /// `starttls` or `direct_tls`.
    pub transport: &'static str,
    /// The TCP connection was made.
    pub reachable: bool,
    /// How long the TCP connect took.
    pub connect_ms: Option<f64>,
    /// Why it could not be examined further.
    pub error: Option<String>,
    /// The first stream header (before TLS with STARTTLS).
    pub stream: Option<StreamHeader>,
    /// Features before TLS (STARTTLS endpoints only).
    pub features_before_tls: Option<Features>,
    /// The TLS handshake.
    pub tls: Option<Tls>,
    /// The stream header after TLS.
    pub stream_after_tls: Option<StreamHeader>,
    /// Features after TLS (`null` if TLS failed).
    pub features_after_tls: Option<Features>,
    /// XEP-0474: the SCRAM server-first carried the downgrade-protection
    /// hash (`null`: not looked at, e.g. no SCRAM offered, or the server
    /// refused an unknown user before its server-first).
    pub downgrade_protection: Option<bool>,
}

/// A stream header as received.
#[derive(Debug, Serialize)]
pub struct StreamHeader {
    /// `version`.
    pub version: Option<String>,
    /// `id`.
    pub id: Option<String>,
    /// `from`.
    pub from: Option<String>,
    /// `xml:lang`.
    pub lang: Option<String>,
    /// From connect (or TLS) to the header, in ms.
    pub ms: f64,
}

/// `<stream:features>`.
#[derive(Debug, Default, Serialize)]
pub struct Features {
    /// `<starttls/>` offered.
    pub starttls: bool,
    /// `<starttls><required/></starttls>`.
    pub starttls_required: bool,
    /// RFC 6120 SASL mechanisms, as listed.
    pub mechanisms: Vec<String>,
    /// XEP-0440 channel-binding types (`null`: the element is absent).
    pub channel_binding_types: Option<Vec<String>>,
    /// SASL2 (XEP-0388), if offered.
    pub sasl2: Option<Sasl2>,
    /// Resource binding (RFC 6120 §7).
    pub bind: bool,
    /// The legacy session (RFC 3921), and whether it is `<optional/>`.
    pub session: Option<Session>,
    /// Stream management (XEP-0198) namespaces.
    pub sm: Vec<String>,
    /// Client state indication (XEP-0352).
    pub csi: bool,
    /// Stream compression methods (XEP-0138).
    pub compression: Vec<String>,
    /// In-band registration (XEP-0077).
    pub register: bool,
    /// Roster versioning (XEP-0237).
    pub roster_versioning: bool,
    /// Every feature element as `{namespace}name`, in order.
    pub all: Vec<String>,
}

/// The legacy session feature.
#[derive(Debug, Serialize)]
pub struct Session {
    /// `<optional/>` inside.
    pub optional: bool,
}

/// SASL2's `<authentication>`.
#[derive(Debug, Default, Serialize)]
pub struct Sasl2 {
    /// Mechanisms.
    pub mechanisms: Vec<String>,
    /// The inline features, as `{namespace}name`.
    pub inline: Vec<String>,
    /// Bind2 (XEP-0386) inline, with the features it can enable.
    pub bind2: Option<Vec<String>>,
    /// FAST (XEP-0484) inline, with its mechanisms.
    pub fast: Option<Vec<String>>,
    /// Stream management resumption inline.
    pub sm: bool,
}

/// The TLS handshake.
#[derive(Debug, Serialize)]
pub struct Tls {
    /// Did the handshake complete.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// The version chosen.
    pub version: Option<String>,
    /// The cipher suite chosen.
    pub cipher: Option<String>,
    /// The ALPN protocol chosen (we offer `xmpp-client` on direct TLS).
    pub alpn: Option<String>,
    /// How long the handshake took, in ms.
    pub ms: Option<f64>,
    /// Each version we can speak, tried alone: `TLS1.2`, `TLS1.3` → accepted.
    pub versions: Vec<VersionSupport>,
    /// The chain as sent, leaf first.
    pub certificates: Vec<Certificate>,
    /// The chain verifies for the domain against the trusted roots.
    pub verified: bool,
    /// Why it does not.
    pub verify_error: Option<String>,
    /// The server stapled an OCSP response.
    pub ocsp_stapled: bool,
}

/// Whether one TLS version was accepted.
#[derive(Debug, Serialize)]
pub struct VersionSupport {
    /// `TLS1.2` or `TLS1.3`.
    pub version: &'static str,
    /// The server completed a handshake limited to it.
    pub accepted: bool,
}

/// One certificate of the chain.
#[derive(Debug, Serialize)]
pub struct Certificate {
    /// The subject's distinguished name.
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// DNS names in subjectAltName (and XMPP addresses, `xmpp:` prefixed).
    pub names: Vec<String>,
    /// Not valid before (RFC 3339).
    pub not_before: String,
    /// Not valid after (RFC 3339).
    pub not_after: String,
    /// Whole days until `not_after` (negative: expired).
    pub days_left: i64,
}

/// host-meta (XEP-0156).
#[derive(Debug, Serialize)]
pub struct Http {
    /// The URLs fetched.
    pub host_meta: Vec<Fetched>,
    /// WebSocket endpoints listed.
    pub websocket: Vec<WebSocket>,
    /// BOSH endpoints listed.
    pub bosh: Vec<String>,
}

/// One host-meta document.
#[derive(Debug, Serialize)]
pub struct Fetched {
    /// Its URL.
    pub url: String,
    /// HTTP status.
    pub status: Option<u16>,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// One WebSocket endpoint.
#[derive(Debug, Serialize)]
pub struct WebSocket {
    /// The URL.
    pub url: String,
    /// The server answered `<open/>` with an `<open/>` and features.
    pub opens_stream: bool,
    /// How long from connect to features, in ms.
    pub ms: Option<f64>,
    /// Why not.
    pub error: Option<String>,
    /// The features it sent.
    pub features: Option<Features>,
}

/// The logins, with credentials.
#[derive(Debug, Serialize)]
pub struct Login {
    /// The endpoint logged in through.
    pub endpoint: String,
    /// One login per mechanism and profile.
    pub attempts: Vec<Attempt>,
    /// Mechanisms offered but not tried, with why (`OAUTHBEARER (rfc6120):
    /// needs a token, not a password`).
    pub not_tried: Vec<String>,
    /// The stream features of the first session (after login).
    pub features_after_login: Option<Features>,
    /// The server's disco#info features (XEP-0030), e.g. `urn:xmpp:carbons:2`.
    pub server_features: Vec<String>,
    /// A FAST token login (XEP-0484), where offered.
    pub fast: Option<Attempt>,
    /// A stream resumption (XEP-0198); `null` when the server offers no
    /// stream management.
    pub resumption: Option<Attempt>,
    /// An XEP-0199 ping to the server after a login.
    pub ping: Option<Attempt>,
}

/// One timed exchange.
#[derive(Debug, Serialize)]
pub struct Attempt {
    /// `rfc6120` or `sasl2` (`fast`, `resume` and `ping` for the others).
    pub profile: &'static str,
    /// The mechanism.
    pub mechanism: Option<String>,
    /// It worked.
    pub ok: bool,
    /// Round trips after the TCP connection, TLS included.
    pub round_trips: Option<u32>,
    /// Milliseconds from connect to done.
    pub ms: Option<f64>,
    /// Why it did not work.
    pub error: Option<String>,
}
