//! The command line, as clap derives it.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use xmpp_sasl::Mechanism;

use crate::duration;

/// XMPP client-to-server stream negotiation: see it, serve it, test it.
#[derive(Debug, Parser)]
#[command(name = "xmpp", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v: info, -vv: debug, -vvv: trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
// Parsed once at start-up: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a server and a client in this process and print the whole exchange, step by step.
    Demo(DemoArgs),
    /// Run an XMPP server.
    Serve(ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Log in to a server and print the bound JID.
    Login(LoginArgs),
    /// Log in, send one message, check that the server accepted it, and exit.
    Send(SendArgs),
    /// Log in and type stanzas or short commands; see incoming stanzas as they arrive.
    Shell(ShellArgs),
    /// Login load generator (works against any XMPP server).
    Bench(BenchArgs),
    /// Check a domain's XMPP service: DNS, TLS, certificates, features, logins.
    Probe(crate::probe::ProbeArgs),
}

/// Where accounts live.
#[derive(Debug, Clone, Args)]
pub struct StoreArg {
    /// The account store: an SQLite file path (or `sqlite:` URL), or a `postgres://` URL.
    /// Default: users.sqlite3 in the platform data directory.
    /// A URL with a password here is visible to every local user (`ps`): use
    /// XMPP_STORE or --store-file for those.
    #[arg(long, env = "XMPP_STORE", value_name = "PATH|URL")]
    pub store: Option<String>,
    /// A file whose first line is the store (PATH or URL), so that a database
    /// password stays out of the command line and the environment.
    #[arg(
        long,
        env = "XMPP_STORE_FILE",
        value_name = "FILE",
        conflicts_with = "store"
    )]
    pub store_file: Option<std::path::PathBuf>,
}

/// `xmpp demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The SASL mechanism to show [default: DIGEST-MD5, SCRAM-SHA-256 with --sasl2 or --fast].
    #[arg(long, value_name = "NAME", value_parser = mechanism)]
    pub mechanism: Option<Mechanism>,
    /// Show an alternative failure: a condition (`incorrect-encoding`: step 5,
    /// `temporary-auth-failure`: step 7 or `--fail success=temporary-auth-failure`: step 9)
    /// or any `<step>=<condition>` that `serve --inject` takes.
    #[arg(long, value_name = "[STEP=]CONDITION")]
    pub fail: Option<String>,
    /// The demo domain.
    #[arg(long, default_value = "example.com")]
    pub domain: String,
    /// The demo user's localpart.
    #[arg(long, default_value = "somenode")]
    pub user: String,
    /// Put DIGEST-MD5's rspauth in <success/> (RFC 6120) instead of a second challenge (the RFC 3920 §6.5 example).
    #[arg(long)]
    pub rspauth_in_success: bool,
    /// Negotiate STARTTLS first (a throwaway certificate, trusted in this
    /// process only), as deployed servers require; allows the -PLUS mechanisms.
    #[arg(long)]
    pub tls: bool,
    /// Show a SASL2 (XEP-0388) login with Bind2 (XEP-0386) instead, each step
    /// with its round trip, and the count compared with an RFC 6120 login's.
    /// Implies --tls: the server offers SASL2 on TLS streams only.
    #[arg(long, conflicts_with_all = ["fail", "rspauth_in_success"])]
    pub sasl2: bool,
    /// Show two SASL2 logins: with the password, asking for a FAST token
    /// (XEP-0484), then with that token (HT-SHA-256-*) on a new connection.
    /// Tokens are shown redacted. Implies --sasl2.
    #[arg(long, conflicts_with_all = ["fail", "rspauth_in_success"])]
    pub fast: bool,
}

/// How the legacy session feature is advertised.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SessionMode {
    /// `<session><optional/></session>`.
    Optional,
    /// A bare `<session/>`, as in RFC 3920.
    Required,
    /// Not advertised.
    Omitted,
}

/// What a client does about STARTTLS.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ClientTls {
    /// Use STARTTLS; fail if the server does not offer it.
    Required,
    /// Use STARTTLS when offered, else continue without TLS.
    Opportunistic,
    /// Never use STARTTLS.
    Off,
}

/// Whether the server offers STARTTLS.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ServerTls {
    /// No STARTTLS.
    Off,
    /// STARTTLS offered next to the SASL mechanisms.
    Optional,
    /// STARTTLS required before anything else.
    Required,
}

/// Whether `xmpp login` uses SASL2 (XEP-0388).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sasl2Choice {
    /// SASL2 (with Bind2 and FAST) when the server offers it, else RFC 6120 SASL.
    Auto,
    /// Fail unless the server offers SASL2.
    Required,
    /// Always RFC 6120 SASL and resource binding.
    Off,
}

/// What `xmpp login` does about channel binding (RFC 5056).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChannelBindingChoice {
    /// Bind to the TLS channel (-PLUS, or a bound FAST mechanism) or fail.
    Required,
    /// Bind when possible; without binding only where nothing suggests tampering: the
    /// server offers no -PLUS at all, or its XEP-0474 hash proves the lists genuine.
    Preferred,
    /// Never bind: for servers behind a TLS-terminating proxy.
    Off,
}

/// Whether `xmpp serve` offers SASL2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServerSasl2 {
    /// Offered on TLS streams (all streams with --allow-sasl2-without-tls), with Bind2 and FAST.
    On,
    /// Not offered: RFC 6120 SASL and binding only.
    Off,
}

/// What happens when a second session binds a resource in use.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ConflictMode {
    /// The new session replaces the old one (which gets `<conflict/>`).
    Replace,
    /// The new bind is refused.
    Refuse,
}

/// `xmpp serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free one (the actual address is printed).
    #[arg(long, default_value = "127.0.0.1:5222")]
    pub listen: SocketAddr,
    /// Serve on N threads, each with its own single-threaded scheduler and its
    /// own socket of --listen (SO_REUSEPORT: the kernel spreads the connections
    /// over them), so that a connection lives on one thread and is never handed
    /// between threads. Default: one multi-threaded scheduler (a worker per CPU)
    /// with work stealing, which keeps the login rate up when other processes
    /// compete for the CPUs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// The served domain (repeat to serve several from one store).
    #[arg(long, required = true, value_name = "DOMAIN")]
    pub domain: Vec<String>,
    /// The account store.
    #[command(flatten)]
    pub store: StoreArg,
    /// DIGEST-MD5 realm (default: the domain).
    #[arg(long)]
    pub realm: Option<String>,
    /// Offer PLAIN on streams without TLS.
    #[arg(long)]
    pub allow_plain_without_tls: bool,
    /// Offered mechanisms, in order (default: SCRAM-SHA-256-PLUS,SCRAM-SHA-1-PLUS with TLS,
    /// then SCRAM-SHA-256,SCRAM-SHA-1,DIGEST-MD5, and PLAIN with TLS or
    /// --allow-plain-without-tls).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...", value_parser = mechanism)]
    pub mechanisms: Option<Vec<Mechanism>>,
    /// Send DIGEST-MD5's rspauth inside <success/> instead of a second <challenge/>.
    #[arg(long)]
    pub rspauth_in_success: bool,
    /// PLAIN: remember up to N verified (password, salt) derivations so repeated
    /// logins skip PBKDF2. Off (0) by default: whoever can read the server's memory
    /// could then test password guesses for cached users at HMAC speed.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub plain_cache: usize,
    /// Reuse an account's looked-up credentials, and its FAST tokens for a user agent,
    /// for this long (0 disables). Missing accounts are cached too, so that lookup time
    /// does not tell which exist. With SQLite, any write to the database (e.g. `xmpp user
    /// add` or `disable`) drops the cache; with PostgreSQL, a new or changed account, or
    /// its tokens changed by another node, is dropped when the change is notified, and
    /// changes take effect within this time should notifications be lost.
    #[arg(long, default_value = "2s", value_parser = duration::parse, value_name = "DURATION")]
    pub store_cache_ttl: Duration,
    /// Most accounts the credential cache holds (and most (account, user agent) pairs
    /// the FAST token cache holds).
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub store_cache_size: usize,
    /// How often to look for accounts changed by other processes, so that the
    /// sessions of a disabled or removed account end with <not-authorized/>.
    /// SQLite: the database files are checked (a stat) this often, and the
    /// connected accounts re-read when they changed. PostgreSQL notifies
    /// changes at once; this is then the retry interval after a lost connection.
    #[arg(long, default_value = "1s", value_parser = duration::parse, value_name = "DURATION")]
    pub account_check_interval: Duration,
    /// SASL failures tolerated on one stream before it is closed.
    #[arg(long, default_value_t = 3)]
    pub sasl_retries: u32,
    /// Close the stream after any SASL failure (RFC 3920 behaviour).
    #[arg(long)]
    pub close_after_sasl_failure: bool,
    /// Time allowed from connect to bound resource.
    #[arg(long, default_value = "30s", value_parser = duration::parse)]
    pub negotiation_timeout: Duration,
    /// Largest stanza accepted after authentication, in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    pub max_stanza_bytes: usize,
    /// Largest element accepted before authentication, in bytes.
    #[arg(long, default_value_t = 16 * 1024)]
    pub pre_auth_max_stanza_bytes: usize,
    /// Largest number of simultaneous connections [default: the process's open-file
    /// limit minus 64, kept for the store, the listeners and the logs]. Beyond it a
    /// connection is refused at once with <policy-violation/>.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
    /// Connections from one address that have not bound a resource yet (IPv6: one
    /// /64); beyond it a connection is refused at once with <policy-violation/>.
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pending_per_ip: u64,
    /// PLAIN password checks (one PBKDF2 each) running at once, off the async
    /// threads; beyond it a PLAIN login gets <temporary-auth-failure/> [default: twice
    /// the cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_derivations: Option<u64>,
    /// Bytes of stanzas queued for one session that does not read fast enough; beyond
    /// it the session is closed with <policy-violation/>. At least --max-stanza-bytes.
    #[arg(long, default_value_t = 1024 * 1024, value_name = "BYTES")]
    pub max_queued_bytes: usize,
    /// Bytes of stanzas queued for all sessions together; once reached, a session
    /// that already has a backlog is closed with <policy-violation/> when one more
    /// stanza comes for it, and a stanza for a session without one is bounced.
    #[arg(long, default_value_t = 256 * 1024 * 1024, value_name = "BYTES")]
    pub max_queued_bytes_total: usize,
    /// How the legacy session feature is advertised.
    #[arg(long, value_enum, default_value = "optional")]
    pub session: SessionMode,
    /// What a second bind of the same resource does.
    #[arg(long, value_enum, default_value = "replace")]
    pub resource_conflict: ConflictMode,
    /// STARTTLS (RFC 6120 §5): not offered, offered, or required before anything else.
    /// Without --tls-cert/--tls-key a throwaway self-signed certificate is generated.
    #[arg(long, value_enum, default_value = "off", alias = "starttls")]
    pub tls: ServerTls,
    /// PEM certificate chain (end-entity first) for STARTTLS and direct TLS.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Also listen for direct TLS (XEP-0368, TLS from the first byte) on this
    /// address; the actual address is printed as `direct TLS on ADDR`.
    #[arg(long, value_name = "ADDR")]
    pub direct_tls: Option<SocketAddr>,
    /// With a generated certificate: write the CA that signed it (PEM) here,
    /// for `xmpp login --ca-file`.
    #[arg(long, value_name = "PATH", conflicts_with = "tls_cert")]
    pub write_ca: Option<std::path::PathBuf>,
    /// Also serve XMPP over WebSocket (RFC 7395) on this address, at /xmpp-websocket
    /// (subprotocol xmpp), with XEP-0156 host-meta at /.well-known/host-meta(.json).
    /// wss:// when --tls is not off (the same certificate), else ws://. The actual URL is
    /// printed as `websocket on ws://ADDR/xmpp-websocket`.
    #[arg(long, value_name = "ADDR")]
    pub websocket: Option<SocketAddr>,
    /// A browser origin allowed to open a WebSocket (e.g. `https://chat.example.com`;
    /// repeatable; `*` allows any). Requests without an Origin header (not browsers)
    /// are always allowed; a browser's Origin not listed gets 403.
    #[arg(long, value_name = "URL", requires = "websocket")]
    pub websocket_origin: Vec<String>,
    /// Send every WebSocket client elsewhere: answer its first <open/> with
    /// <close see-other-uri='URL'/> (RFC 7395 §3.6.1), e.g. while this endpoint moves.
    #[arg(long, value_name = "URL", requires = "websocket")]
    pub websocket_redirect: Option<String>,
    /// Fault injection: answer at STEP with CONDITION (repeatable). Steps: header, starttls,
    /// auth, response, success, restart, bind. Conditions: a SASL failure (auth, response,
    /// success), `failure` (starttls: <failure xmlns='...xmpp-tls'/>), a stream error (any
    /// step, `stream:` prefix to force), a stanza error (bind), or `close` / `silence`.
    /// Steps after <proceed/> are only seen on streams without TLS. `stanza:N=cut` drops
    /// each connection, as a lost network does, when the server has written N stanzas to
    /// it (the Nth never leaves): for testing a client's resumption (XEP-0198).
    #[arg(long, value_name = "STEP=CONDITION")]
    pub inject: Vec<String>,
    /// SASL2 (XEP-0388) with Bind2 (XEP-0386) and FAST tokens (XEP-0484), beside RFC 6120 SASL.
    #[arg(long, value_enum, default_value = "on")]
    pub sasl2: ServerSasl2,
    /// Offer SASL2 (and FAST) on streams without TLS too. For tests only: XEP-0388
    /// expects TLS.
    #[arg(long)]
    pub allow_sasl2_without_tls: bool,
    /// How long a FAST token the server issues stays valid.
    #[arg(long, default_value = "14d", value_parser = duration::parse, value_name = "DURATION")]
    pub fast_token_ttl: Duration,
    /// Stream management (XEP-0198): acknowledgements and resumption.
    #[arg(long, value_enum, default_value = "on")]
    pub sm: OnOff,
    /// How long a session whose connection was lost waits for its client to resume it
    /// (XEP-0198; advertised as `max`); what arrives meanwhile is queued, and bounced with
    /// <recipient-unavailable/> when the time is up. 0 offers no resumption.
    #[arg(long, default_value = "300s", value_parser = duration::parse, value_name = "DURATION")]
    pub resume_timeout: Duration,
}

/// A feature switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

/// `xmpp user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (password from a prompt or --password-stdin).
    Add(UserAddArgs),
    /// Change an account's password.
    Passwd(UserAddArgs),
    /// Delete an account.
    Remove(UserJidArgs),
    /// List accounts.
    List(UserListArgs),
    /// Refuse logins for an account (account-disabled).
    Disable(UserJidArgs),
    /// Allow logins for a disabled account again.
    Enable(UserJidArgs),
    /// Create or replace <prefix>1@<domain> .. <prefix><count>@<domain>, one password for all.
    BulkAdd(BulkAddArgs),
}

/// `user add` / `user passwd`.
#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The account, `user@domain`.
    pub jid: String,
    /// The account store.
    #[command(flatten)]
    pub store: StoreArg,
    /// Read the password from the first line of stdin instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    /// DIGEST-MD5 realm(s) to derive secrets for (default: the domain).
    #[arg(long)]
    pub realm: Vec<String>,
}

/// `user remove` / `disable` / `enable`.
#[derive(Debug, Args)]
pub struct UserJidArgs {
    /// The account, `user@domain`.
    pub jid: String,
    /// The account store.
    #[command(flatten)]
    pub store: StoreArg,
}

/// `user list`.
#[derive(Debug, Args)]
pub struct UserListArgs {
    /// Only this domain.
    #[arg(long)]
    pub domain: Option<String>,
    /// The account store.
    #[command(flatten)]
    pub store: StoreArg,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `user bulk-add`.
#[derive(Debug, Args)]
pub struct BulkAddArgs {
    /// Localpart prefix.
    pub prefix: String,
    /// How many accounts.
    pub count: u32,
    /// Their domain.
    #[arg(long)]
    pub domain: String,
    /// The account store.
    #[command(flatten)]
    pub store: StoreArg,
    /// Read the password from the first line of stdin instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    /// DIGEST-MD5 realm(s) (default: the domain).
    #[arg(long)]
    pub realm: Vec<String>,
    /// First number.
    #[arg(long, default_value_t = 1)]
    pub start: u32,
}

/// `xmpp login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Who to log in as: `user@domain` or `user@domain/resource`.
    pub jid: String,
    /// How to connect and log in.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Print the whole exchange, step by step, as `xmpp demo` does, with the round
    /// trips numbered. Passwords, FAST tokens and token proofs are redacted.
    #[arg(long)]
    pub transcript: bool,
}

/// The connection, TLS and SASL options of `xmpp login`, shared with
/// `xmpp send` and `xmpp shell` so that they cannot drift apart.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Server address. Default: found through DNS: the domain's _xmpp-client._tcp (STARTTLS)
    /// and _xmpps-client._tcp (direct TLS) SRV records in RFC 2782 order, else the domain on
    /// port 5222. The certificate is always checked against the JID's domain.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: Option<String>,
    /// Send the DNS queries (SRV, A/AAAA) to this name server instead of the system's:
    /// for tests and split-horizon setups. Not used with --server.
    #[arg(long, env = "XMPP_RESOLVER", value_name = "IP:PORT")]
    pub resolver: Option<SocketAddr>,
    /// Use only this mechanism (default: the best offered one, with fallback).
    #[arg(long, value_name = "NAME", value_parser = mechanism)]
    pub mechanism: Option<Mechanism>,
    /// Read the password from the first line of stdin instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    /// Resource to ask for. Bind2 (SASL2) lets the server choose the resource, so asking
    /// for one (here or in the JID) means RFC 6120 SASL and binding: not with
    /// --sasl2 required or --fast-token-file.
    #[arg(long)]
    pub resource: Option<String>,
    /// Allow PLAIN on a stream without TLS. It does not change --tls: with the
    /// default (required) PLAIN only ever goes inside TLS; PLAIN in the clear
    /// also needs --tls opportunistic or --tls off.
    #[arg(long)]
    pub allow_plain_without_tls: bool,
    /// STARTTLS use.
    #[arg(long, value_enum, default_value = "required")]
    pub tls: ClientTls,
    /// Trust the CA certificates in this PEM file instead of the system roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<std::path::PathBuf>,
    /// Direct TLS (XEP-0368): TLS from the first byte instead of STARTTLS. Without
    /// --server: only the domain's _xmpps-client._tcp targets, else <domain>:5223.
    #[arg(long)]
    pub direct_tls: bool,
    /// Connect over WebSocket (RFC 7395) to this URL instead of TCP: wss://HOST:PORT/PATH,
    /// or ws:// with --tls off (tests only). The certificate is checked against the URL's
    /// host (or --tls-server-name). No STARTTLS over WebSocket.
    #[arg(long, value_name = "URL", conflicts_with_all = ["server", "direct_tls"])]
    pub websocket: Option<String>,
    /// Find the WebSocket endpoint through the domain's XEP-0156 host-meta
    /// (`https://DOMAIN/.well-known/host-meta.json`; only wss: links). With --tls off
    /// (tests only) http: and ws: are allowed, and --server names where to fetch it.
    #[arg(long, conflicts_with_all = ["websocket", "direct_tls"])]
    pub discover: bool,
    /// Accept any server certificate. For tests against throwaway certificates
    /// only: anyone on the path can then read the password.
    #[arg(long, conflicts_with = "ca_file")]
    pub insecure: bool,
    /// The name the server's certificate must carry (default: the JID's domain).
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Give up after this long (connect and negotiation).
    #[arg(long, default_value = "30s", value_parser = duration::parse)]
    pub timeout: Duration,
    /// SASL2 (XEP-0388), with Bind2 (XEP-0386) and FAST (XEP-0484).
    #[arg(long, value_enum, default_value = "auto")]
    pub sasl2: Sasl2Choice,
    /// Channel binding to the TLS connection (RFC 5056: SCRAM -PLUS, bound FAST mechanisms).
    #[arg(long, value_enum, default_value = "preferred")]
    pub channel_binding: ChannelBindingChoice,
    /// The SASL2 user-agent id, a UUID (default: the one stored in --fast-token-file,
    /// else a fresh random one). FAST tokens are bound to it.
    #[arg(long, value_name = "UUID", value_parser = uuid)]
    pub user_agent_id: Option<String>,
    /// Keep a FAST token (XEP-0484) in this file: a password login asks the server for
    /// one and stores it here (mode 0600, replaced atomically); later logins use it
    /// instead of the password, which is then read only if the token is missing or
    /// expired, or with --password-stdin (used if the server refuses the token; a refused
    /// token's file is removed). A file that group or others can read is refused.
    #[arg(long, value_name = "PATH")]
    pub fast_token_file: Option<std::path::PathBuf>,
}

/// The `type` of the message `xmpp send` sends (RFC 6121 §5.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageType {
    /// A one-to-one chat message.
    Chat,
    /// A standalone message.
    Normal,
    /// An alert or notification that expects no reply.
    Headline,
}

impl MessageType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Chat => "chat",
            MessageType::Normal => "normal",
            MessageType::Headline => "headline",
        }
    }
}

/// `xmpp send`.
#[derive(Debug, Args)]
#[command(after_help = "\
How delivery is checked: with stream management (XEP-0198), when the server offers it,
xmpp send waits until the server acknowledges that it handled the message, then waits
--wait for an error bounce. Without stream management the --wait grace period is the
only check: a server that is slow to bounce is not noticed.

Exit codes: 0 sent and not bounced; 6 the server bounced the message (its error
condition is printed); 2 usage; 3 authentication; 4 stream or protocol; 5 network or
timeout; 1 anything else.")]
pub struct SendArgs {
    /// The recipient: `user@domain` (its available resources) or a full JID.
    pub to: String,
    /// The message text (default: read from stdin until EOF; the password then comes
    /// from the prompt or --fast-token-file, not --password-stdin).
    pub text: Option<String>,
    /// The account to send from: `user@domain` or `user@domain/resource`.
    #[arg(long, value_name = "JID")]
    pub from: String,
    /// The message type.
    #[arg(long = "type", value_name = "TYPE", value_enum, default_value = "chat")]
    pub kind: MessageType,
    /// After sending (and the server's acknowledgement), how long to wait for an
    /// error bounce before closing.
    #[arg(long, default_value = "1s", value_parser = duration::parse)]
    pub wait: Duration,
    /// How to connect and log in (as `xmpp login`).
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `xmpp shell`.
#[derive(Debug, Args)]
#[command(after_help = "\
Each line is a stanza or a command. A line that starts with < is XML: one <message>,
<presence> or <iq> (in jabber:client, the stream's namespace), sent as typed; an
element may span several lines, which are read until it is complete (Ctrl-C on a
terminal drops an unfinished one). Commands:
  /msg <jid> <text>          a chat message
  /presence [show] [status]  presence; show: available, away, chat, dnd or xa
  /ping [jid]                an XMPP ping (XEP-0199) to the server or <jid>, with its round trip
  /raw <xml>                 any element, sent without checks (e.g. <r xmlns='urn:xmpp:sm:3'/>)
  /quit                      close the stream (after the server acknowledged what was sent)
  /help                      this list
Incoming stanzas are printed on stdout as indented XML, everything else on stderr.
Pings to us are answered; other requests are yours to answer.

On a terminal lines are edited with history; otherwise (a pipe, a file) lines are
read without a prompt (after the password's, with --password-stdin), errors name the
line, and at the end of input the stream is closed once the server acknowledged every
stanza (stream management, XEP-0198) and pings and iq requests were answered, or
--wait passed.

Exit codes: 0 closed by /quit or the end of input; 2 usage; 3 authentication; 4 stream
or protocol (also a stream error that ends the session); 5 network or timeout (also a
connection lost during the session); 1 anything else.")]
pub struct ShellArgs {
    /// The account to log in as: `user@domain` or `user@domain/resource`.
    pub jid: String,
    /// At the end of input: how long to wait for the answers to pings and iq
    /// requests still pending before closing.
    #[arg(long, default_value = "2s", value_parser = duration::parse)]
    pub wait: Duration,
    /// After a lost connection: how many times to try to reconnect (with backoff from
    /// 0.5 s to 30 s), resuming the session (XEP-0198) when the server kept it. 0 ends
    /// the shell at the first loss.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub reconnect: u32,
    /// How to connect and log in (as `xmpp login`).
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `xmpp bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:5222", value_name = "HOST:PORT")]
    pub server: String,
    /// Log in over WebSocket (RFC 7395) to this URL instead of TCP to --server:
    /// ws://HOST:PORT/PATH with --tls off, or wss:// (the certificate checked against the
    /// URL's host, or --tls-server-name). Each login opens its own WebSocket; every mode
    /// works over it (--sasl2, --fast, --resume, --hold). No STARTTLS over WebSocket.
    #[arg(long, value_name = "URL", conflicts_with = "server")]
    pub websocket: Option<String>,
    /// The name the server's certificate must carry (default: --domain; over wss://,
    /// the URL's host).
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// The accounts' domain.
    #[arg(long)]
    pub domain: String,
    /// Accounts are <prefix>1 .. <prefix>N.
    #[arg(long, default_value = "user")]
    pub user_prefix: String,
    /// N: how many accounts to spread logins over.
    #[arg(long, default_value_t = 1)]
    pub users: u32,
    /// Read the (shared) password from the first line of stdin instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    /// Logins in flight at once.
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Run this long (default 10s unless --logins is given).
    #[arg(long, value_parser = duration::parse)]
    pub duration: Option<Duration>,
    /// Stop after this many logins.
    #[arg(long)]
    pub logins: Option<u64>,
    /// Mechanism to use (default: the best offered).
    #[arg(long, value_name = "NAME", value_parser = mechanism)]
    pub mechanism: Option<Mechanism>,
    /// Allow PLAIN on a stream without TLS (--mechanism PLAIN needs it unless
    /// --tls required).
    #[arg(long)]
    pub allow_plain_without_tls: bool,
    /// STARTTLS use (opportunistic by default: the server is measured as configured).
    #[arg(long, value_enum, default_value = "opportunistic")]
    pub tls: ClientTls,
    /// Trust the CA certificates in this PEM file instead of the system roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<std::path::PathBuf>,
    /// Never resume a TLS session: every login pays a full TLS handshake. By
    /// default the logins share one TLS client configuration, so that each
    /// offers a session ticket an earlier login got (TLS 1.3 resumption), as a
    /// reconnecting client does.
    #[arg(long)]
    pub no_tls_resumption: bool,
    /// Spread the start of the workers over this long.
    #[arg(long, default_value = "0s", value_parser = duration::parse)]
    pub ramp_up: Duration,
    /// Keep every session open instead of closing it: open --concurrency
    /// sessions, report, and hold them for --duration.
    #[arg(long)]
    pub hold: bool,
    /// Per-login timeout.
    #[arg(long, default_value = "10s", value_parser = duration::parse)]
    pub timeout: Duration,
    /// Machine-readable result on stdout (no progress bar).
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Also report the RSS of this process id (e.g. the server's) before and after.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Log in with SASL2 (XEP-0388), with Bind2 (XEP-0386) when offered; fail
    /// where the server does not offer it. Without it (and --fast) every login
    /// uses RFC 6120 SASL, whatever the server offers.
    #[arg(long)]
    pub sasl2: bool,
    /// FAST token logins (XEP-0484; implies --sasl2): each worker logs in once
    /// with the password asking for a token, then again and again with its
    /// token (a rotated token replaces it). Only token logins are counted and
    /// timed. Fails if the server issues no token.
    #[arg(long, conflicts_with = "hold")]
    pub fast: bool,
    /// Measure stream management resumptions (XEP-0198) instead of logins: each
    /// worker logs in once with stream management, then again and again sends a
    /// message to itself, drops the connection (TCP or WebSocket) and resumes the
    /// session on a new one (inside SASL2 with --sasl2). Only resumptions are counted
    /// and timed; a message whose echo is lost or duplicated fails the run.
    #[arg(long, conflicts_with_all = ["hold", "fast"])]
    pub resume: bool,
    /// Enable stream management (XEP-0198, with resumption when offered)
    /// after each login: with --hold, the held sessions are the server's
    /// sessions with stream management on.
    #[arg(long, conflicts_with_all = ["fast", "resume"])]
    pub stream_management: bool,
}

/// A UUID as `8-4-4-4-12` hex digits (XEP-0388 asks for a UUID v4), lower-cased.
pub fn uuid(s: &str) -> Result<String, String> {
    let s = s.trim();
    let groups: Vec<&str> = s.split('-').collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let hex = groups
        .iter()
        .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
    if lens != [8, 4, 4, 4, 12] || !hex {
        return Err(format!(
            "{s:?} is not a UUID (expected 8-4-4-4-12 hex digits, e.g. \
             0e0f6d4a-8b7c-4d2e-9f10-1a2b3c4d5e6f)"
        ));
    }
    Ok(s.to_ascii_lowercase())
}

/// A mechanism name as people type it: any case, spaces around it ignored.
fn mechanism(name: &str) -> Result<Mechanism, xmpp_sasl::UnknownMechanism> {
    Mechanism::from_name_ignore_ascii_case(name.trim())
}
