//! Speaks GNU SASL's stdin/stdout line protocol with this crate's mechanisms, so
//! that `gsasl` (or `shared/peers/gsasl_pair.py --client-cmd/--server-cmd`) can
//! be paired with our client or our server.
//!
//! Protocol: the first line printed is the mechanism name; then one base64 token
//! per line, an empty line being an empty token. Exit status 0 = authenticated.
//!
//! ```text
//! cargo run -p xmpp-sasl --example sasl_lines -- --client --mechanism=DIGEST-MD5 \
//!     --authentication-id=somenode --password=secret --hostname=example.com
//! cargo run -p xmpp-sasl --example sasl_lines -- --server --mechanism=SCRAM-SHA-1 \
//!     --password=secret --realm=example.com --hostname=example.com
//! ```
//! Options follow gsasl's names (`--opt=value` form only); unknown options are ignored.
//! The server accepts any username with `--password` (as gsasl's server does).
#![allow(dead_code, missing_docs)]

use std::io::{BufRead, Write};

use base64::Engine as _;
use xmpp_sasl::{
    client_mechanism, server_mechanism, ClientCredentials, Mechanism, ServerMechanismConfig,
    ServerStep, StoredCredentials,
};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Options (gsasl names).
#[derive(Clone, Debug, Default)]
pub struct Opts {
    pub server: bool,
    pub mechanism: String,
    pub authentication_id: String,
    pub authorization_id: Option<String>,
    pub password: String,
    pub realm: Option<String>,
    pub service: String,
    pub hostname: String,
    pub rspauth_in_success: bool,
}

impl Opts {
    pub fn parse(args: impl Iterator<Item = String>) -> Opts {
        let mut o = Opts {
            service: "xmpp".into(),
            hostname: "example.com".into(),
            ..Opts::default()
        };
        for a in args {
            let (k, v) = a.split_once('=').unwrap_or((a.as_str(), ""));
            let v = v.to_string();
            match k {
                "--server" => o.server = true,
                "--client" => o.server = false,
                "--mechanism" => o.mechanism = v,
                "--authentication-id" => o.authentication_id = v,
                "--authorization-id" => o.authorization_id = Some(v),
                "--password" => o.password = v,
                "--realm" => o.realm = Some(v),
                "--service" => o.service = v,
                "--hostname" => o.hostname = v,
                "--rspauth-in-success" => o.rspauth_in_success = true,
                _ => {}
            }
        }
        o
    }
}

/// How the peer's lines reach us.
#[derive(Clone, Copy, Debug)]
pub struct Framing {
    /// Print our mechanism name first (true when a relay such as gsasl_pair.py is in between).
    pub print_mechanism: bool,
    /// Talking to gsasl directly: consume its mechanism-name line and its empty first
    /// token (a relay such as gsasl_pair.py does both itself).
    pub skip_peer_mechanism: bool,
}

fn read_token(input: &mut dyn BufRead) -> Result<Option<String>, String> {
    let mut line = String::new();
    match input.read_line(&mut line) {
        Ok(0) => Ok(None),
        Ok(_) => Ok(Some(line.trim_end_matches(['\r', '\n']).to_string())),
        Err(e) => Err(format!("read: {e}")),
    }
}

fn write_token(out: &mut dyn Write, data: &[u8]) -> Result<(), String> {
    writeln!(out, "{}", B64.encode(data))
        .and_then(|_| out.flush())
        .map_err(|e| format!("write: {e}"))
}

fn decode(line: &str) -> Result<Vec<u8>, String> {
    B64.decode(line.trim())
        .map_err(|e| format!("bad base64 from peer: {e}"))
}

/// Our client. `Ok(())` = authenticated and the server proved itself where the mechanism can.
pub fn run_client(
    o: &Opts,
    f: Framing,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), String> {
    let mut creds = ClientCredentials::new(&o.authentication_id, &o.password, &o.hostname);
    creds.service = o.service.clone();
    creds.authzid = o.authorization_id.clone();
    let mechanism: Mechanism = o.mechanism.parse().map_err(|e| format!("{e}"))?;
    let mut mech = client_mechanism(mechanism, creds).ok_or("unsupported mechanism")?;
    if f.print_mechanism {
        writeln!(out, "{}", o.mechanism).map_err(|e| e.to_string())?;
    }
    if f.skip_peer_mechanism {
        read_token(input)?;
    }
    match mech.initial_response().map_err(|e| e.to_string())? {
        Some(d) => write_token(out, &d)?,
        None if f.print_mechanism => writeln!(out)
            .and_then(|_| out.flush())
            .map_err(|e| e.to_string())?,
        None => {}
    }
    let mut first = true;
    loop {
        let token = read_token(input)?;
        // gsasl prints an empty first token for client-first mechanisms: not a challenge.
        // (A relay such as gsasl_pair.py already drops it.)
        if first && f.skip_peer_mechanism && token.as_deref() == Some("") {
            first = false;
            continue;
        }
        first = false;
        match token.as_deref() {
            // The server finished: like <success/> without additional data.
            None | Some("") => return mech.success(None).map_err(|e| e.to_string()),
            Some(line) => {
                let r = mech.respond(&decode(line)?).map_err(|e| e.to_string())?;
                // The peer may already have exited (its last token needs no answer).
                let _ = write_token(out, &r);
            }
        }
    }
}

/// Our server. `Ok(authcid)` = the client authenticated.
pub fn run_server(
    o: &Opts,
    f: Framing,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<String, String> {
    let domain = o.hostname.clone();
    let mut cfg = ServerMechanismConfig::new(&domain);
    cfg.service = o.service.clone();
    cfg.realm = o.realm.clone().unwrap_or_else(|| domain.clone());
    cfg.rspauth_in_success = o.rspauth_in_success;
    let realm = cfg.realm.clone();
    let mechanism: Mechanism = o.mechanism.parse().map_err(|e| format!("{e}"))?;
    let mut mech = server_mechanism(mechanism, &cfg).ok_or("unsupported mechanism")?;
    if f.print_mechanism {
        writeln!(out, "{}", o.mechanism).map_err(|e| e.to_string())?;
    }
    if f.skip_peer_mechanism {
        read_token(input)?;
    }
    let server_first = mechanism == Mechanism::DigestMd5;
    let mut step = if server_first {
        mech.start(None)
    } else {
        if f.print_mechanism {
            // gsasl's server prints an empty first token for client-first mechanisms.
            writeln!(out)
                .and_then(|_| out.flush())
                .map_err(|e| e.to_string())?;
        }
        let mut tok = read_token(input)?;
        if tok.as_deref() == Some("") {
            tok = read_token(input)?;
        }
        let tok = tok.ok_or("client closed before its initial response")?;
        mech.start(Some(&decode(&tok)?))
    };
    let mut first = server_first;
    loop {
        step = match step {
            ServerStep::NeedCredentials { username } => {
                // Like gsasl's server: any username, the configured password.
                let c = StoredCredentials::derive(&username, &o.password, &[realm.as_str(), ""]);
                mech.credentials(Ok(Some(c)))
            }
            ServerStep::Challenge(c) => {
                write_token(out, &c)?;
                let mut tok = read_token(input)?;
                // gsasl's client prints an empty initial response for server-first mechanisms.
                if first && tok.as_deref() == Some("") {
                    tok = read_token(input)?;
                }
                first = false;
                let tok = tok.ok_or("client closed the exchange")?;
                mech.step(&decode(&tok)?)
            }
            ServerStep::Success {
                authcid,
                additional,
                ..
            } => {
                if let Some(d) = additional {
                    write_token(out, &d)?;
                }
                return Ok(authcid);
            }
            ServerStep::Failure(e) => return Err(format!("failure: {} ({e})", e.condition())),
        };
    }
}

fn main() {
    let o = Opts::parse(std::env::args().skip(1));
    let f = Framing {
        print_mechanism: true,
        skip_peer_mechanism: false,
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout();
    let result = if o.server {
        run_server(&o, f, &mut input, &mut out).map(|u| eprintln!("sasl_lines: authenticated {u}"))
    } else {
        run_client(&o, f, &mut input, &mut out)
    };
    if let Err(e) = result {
        eprintln!("sasl_lines: {e}");
        std::process::exit(1);
    }
}
