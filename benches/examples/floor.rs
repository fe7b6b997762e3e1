//! The floor: the least server CPU a client login can cost over loopback TCP
//! on this machine, to hold `xmpp serve`'s server CPU per login against
//! (`cargo xtask bench-e2e`'s `floor` rows).
//!
//! `cargo run --release -p benches --example floor -- [--listen ADDR] [--current-thread] [--rspauth-in-success]`
//!
//! It serves the RFC 6120 login that `xmpp bench` makes (stream header,
//! features, SASL, restart, features, bind) with the real SASL mechanisms of
//! `xmpp-sasl` (DIGEST-MD5, SCRAM-SHA-1/256, PLAIN with a PBKDF2 cache, each
//! account's secrets derived once) and nothing else a server should do:
//! replies are fixed strings with the few variable parts pasted in; requests
//! are recognised by a substring and never parsed as XML (no framer, no
//! limits, no checks of names, namespaces or JIDs); stream ids come from a
//! counter, not a CSPRNG; no account store, no resource registry, no
//! router, no logging, no timeouts. So it is not a server, and must never be
//! run as one: it is what the kernel's accept, reads, writes and close, the
//! runtime's wake-ups and the mechanism's cryptography cost together. Each
//! connection sets TCP_NODELAY (one `setsockopt`), as servers do.
//!
//! It prints `listening on ADDR` once bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use xmpp_sasl::{
    server_mechanism_from, Mechanism, Pbkdf2Cache, ServerMechanism, ServerMechanismConfig,
    ServerStep, StoredCredentials,
};

const DOMAIN: &str = "example.com";
/// The password of every account (`cargo xtask bench-e2e`'s).
const PASSWORD: &str = "secret";
const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";

struct Shared {
    config: ServerMechanismConfig,
    /// Each account's secrets, derived on its first login.
    accounts: Mutex<HashMap<String, StoredCredentials>>,
    ids: AtomicU64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut listen = "127.0.0.1:0".to_owned();
    let mut current_thread = false;
    let mut config = ServerMechanismConfig::new(DOMAIN);
    config.plain_cache = Some(Pbkdf2Cache::new(10_000));
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--listen" => listen = it.next().cloned().unwrap_or(listen),
            "--current-thread" => current_thread = true,
            "--rspauth-in-success" => config.rspauth_in_success = true,
            other => {
                eprintln!("floor: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let runtime = if current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_io()
    .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("floor: no runtime: {e}");
            std::process::exit(1);
        }
    };
    let shared = Arc::new(Shared {
        config,
        accounts: Mutex::new(HashMap::new()),
        ids: AtomicU64::new(1),
    });
    runtime.block_on(async move {
        let listener = match TcpListener::bind(&listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("floor: cannot listen on {listen}: {e}");
                std::process::exit(1);
            }
        };
        if let Ok(addr) = listener.local_addr() {
            println!("listening on {addr}");
        }
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let _ = sock.set_nodelay(true);
                let _ = serve(sock, &shared).await;
            });
        }
    });
}

/// Where a connection is in the login.
enum State {
    /// Waiting for the stream header.
    Header,
    /// Waiting for `<auth/>`.
    Auth,
    /// In a SASL exchange.
    Sasl(Box<dyn ServerMechanism>),
    /// Authenticated as this localpart; waiting for the restart.
    Restart(String),
    /// Waiting for the bind request.
    Bind(String),
    /// Bound; waiting for the close.
    Bound,
}

async fn serve(mut sock: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut out = String::with_capacity(512);
    let mut state = State::Header;
    loop {
        let mut chunk = [0u8; 1024];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let Ok(text) = std::str::from_utf8(&buf) else {
            continue;
        };
        if text.contains("</stream:stream>") {
            sock.write_all(b"</stream:stream>").await?;
            return Ok(());
        }
        let Some(next) = step(text, state, shared, &mut out) else {
            return Ok(());
        };
        state = next.0;
        if next.1 {
            buf.clear();
            sock.write_all(out.as_bytes()).await?;
            out.clear();
        }
    }
}

/// Answers `text` (the bytes since the last answer) into `out`: the next
/// state, and whether an answer was made (else more bytes are needed).
/// `None` ends the connection.
fn step(text: &str, state: State, shared: &Shared, out: &mut String) -> Option<(State, bool)> {
    Some(match state {
        State::Header | State::Restart(_) if !text.contains("<stream:stream") => (state, false),
        State::Header => {
            header(shared, out);
            out.push_str("<stream:features><mechanisms xmlns='");
            out.push_str(SASL);
            out.push_str("'><mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism><mechanism>DIGEST-MD5</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
            (State::Auth, true)
        }
        State::Restart(user) => {
            header(shared, out);
            out.push_str("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>");
            (State::Bind(user), true)
        }
        State::Auth => {
            let Some(body) = element(text, "auth") else {
                return Some((State::Auth, false));
            };
            let name = between(text, "mechanism='", "'")
                .or_else(|| between(text, "mechanism=\"", "\""))?;
            let mech: Mechanism = name.parse().ok()?;
            let mut m = server_mechanism_from(mech, shared.config.clone())?;
            let initial = match body {
                "" => None,
                "=" => Some(Vec::new()),
                b => Some(B64.decode(b).ok()?),
            };
            let s = m.start(initial.as_deref());
            sasl(s, m, shared, out)
        }
        State::Sasl(mut m) => {
            let Some(body) = element(text, "response") else {
                return Some((State::Sasl(m), false));
            };
            let data = B64.decode(body).ok()?;
            let s = m.step(&data);
            sasl(s, m, shared, out)
        }
        State::Bind(user) => {
            if !text.contains("</iq>") && !text.ends_with("/>") {
                return Some((State::Bind(user), false));
            }
            let id = between(text, "id='", "'").or_else(|| between(text, "id=\"", "\""))?;
            let resource = between(text, "<resource>", "</resource>").unwrap_or("floor");
            out.push_str("<iq type='result' id='");
            out.push_str(id);
            out.push_str("'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>");
            out.push_str(&user);
            out.push('@');
            out.push_str(DOMAIN);
            out.push('/');
            out.push_str(resource);
            out.push_str("</jid></bind></iq>");
            (State::Bound, true)
        }
        State::Bound => (State::Bound, false),
    })
}

/// Runs the mechanism's step `s` to an answer (looking credentials up as
/// often as it asks) and writes it.
fn sasl(
    mut s: ServerStep,
    mut m: Box<dyn ServerMechanism>,
    shared: &Shared,
    out: &mut String,
) -> (State, bool) {
    loop {
        match s {
            ServerStep::NeedCredentials { username } => {
                let found = account(shared, &username);
                s = m.credentials(Ok(found));
            }
            ServerStep::Challenge(data) => {
                sasl_element(out, "challenge", Some(&data));
                return (State::Sasl(m), true);
            }
            ServerStep::Success {
                authcid,
                additional,
                ..
            } => {
                sasl_element(out, "success", additional.as_deref());
                return (State::Restart(authcid), true);
            }
            ServerStep::Failure(_) => {
                out.push_str("<failure xmlns='");
                out.push_str(SASL);
                out.push_str("'><not-authorized/></failure>");
                return (State::Auth, true);
            }
        }
    }
}

/// The stored secrets of `user` (every account has [`PASSWORD`]).
fn account(shared: &Shared, user: &str) -> Option<StoredCredentials> {
    let mut accounts = shared.accounts.lock().ok()?;
    Some(
        accounts
            .entry(user.to_owned())
            .or_insert_with(|| StoredCredentials::derive(user, PASSWORD, &[DOMAIN]))
            .clone(),
    )
}

fn header(shared: &Shared, out: &mut String) {
    let id = shared.ids.fetch_add(1, Ordering::Relaxed);
    out.push_str("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='");
    out.push_str(DOMAIN);
    out.push_str("' version='1.0' xml:lang='en' id='");
    out.push_str(&format!("{id:016x}"));
    out.push_str("'>");
}

fn sasl_element(out: &mut String, name: &str, data: Option<&[u8]>) {
    out.push('<');
    out.push_str(name);
    out.push_str(" xmlns='");
    out.push_str(SASL);
    match data {
        None => out.push_str("'/>"),
        Some(d) => {
            out.push_str("'>");
            if d.is_empty() {
                out.push('=');
            } else {
                B64.encode_string(d, out);
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

/// The text content of the first `<name ...>...</name>` (or `""` for
/// `<name .../>`) in `text`, once it is complete.
fn element<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(&format!("<{name}"))?;
    let rest = &text[start..];
    let open_end = rest.find('>')?;
    if rest[..open_end].ends_with('/') {
        return Some("");
    }
    let body = &rest[open_end + 1..];
    let end = body.find(&format!("</{name}>"))?;
    Some(body[..end].trim())
}

/// What lies between the first `from` and the next `to`.
fn between<'a>(text: &'a str, from: &str, to: &str) -> Option<&'a str> {
    let start = text.find(from)? + from.len();
    let len = text[start..].find(to)?;
    Some(&text[start..start + len])
}
