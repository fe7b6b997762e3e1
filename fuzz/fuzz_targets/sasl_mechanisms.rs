//! Fuzz target for every xmpp-sasl mechanism, client and server.
//!
//! A case is a target (one of 6 server and 6 client mechanisms), a flags byte
//! (configuration: channel bindings, authzid, store answer, where the success data
//! goes, ...) and a list of peer messages. Server targets get the messages at
//! `start`/`step` (and a store answer on `NeedCredentials`); client targets get them
//! at `respond`/`success`. Nonces are fixed, so the honest transcripts used as
//! seeds replay exactly and mutations reach the deep states (proof checks).
//!
//! Checks: no panic; every call returns within a time bound; outputs stay small;
//! a finished server mechanism stays finished (a further step fails); a client
//! with mutual authentication (DIGEST-MD5, SCRAM) never accepts `success` after it
//! reported an error. Options and artifacts: see `xmpp_fuzz::driver`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use xmpp_fuzz::{Mutator, Rng, Target};
use xmpp_sasl::*;

const SERVER_TARGETS: u8 = 6;
const TARGETS: u8 = 12;
/// The mechanism behind each target index (server targets, then the same six as clients).
const NAMES: [Mechanism; 6] = [
    Mechanism::DigestMd5,
    Mechanism::Plain,
    Mechanism::ScramSha1,
    Mechanism::ScramSha256,
    Mechanism::ScramSha1Plus,
    Mechanism::ScramSha256Plus,
];
/// Longest any single call may take. Generous: a hostile server may legitimately
/// demand up to MAX_ITERATIONS (1e6) PBKDF2 rounds from a client.
const CALL_LIMIT: Duration = Duration::from_secs(5);
/// Largest message a mechanism may produce.
const OUTPUT_LIMIT: usize = 8192;
/// Flag bit: server targets call `start(None)`; client targets pass the last
/// message to `success(Some(..))` instead of `respond`.
const F_LAST: u8 = 0x80;

#[derive(Clone)]
struct Case {
    target: u8,
    flags: u8,
    msgs: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (side, i) = if self.target < SERVER_TARGETS {
            ("server", self.target)
        } else {
            ("client", self.target - SERVER_TARGETS)
        };
        let msgs: Vec<_> = self
            .msgs
            .iter()
            .map(|m| String::from_utf8_lossy(m))
            .collect();
        f.debug_struct("Case")
            .field("target", &format_args!("{side} {}", NAMES[usize::from(i)]))
            .field("flags", &format_args!("{:#04x}", self.flags))
            .field("msgs", &msgs)
            .finish()
    }
}

impl Case {
    fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.target, self.flags];
        for m in &self.msgs {
            let n = m.len().min(u16::MAX as usize);
            out.extend_from_slice(&(n as u16).to_be_bytes());
            out.extend_from_slice(&m[..n]);
        }
        out
    }

    fn decode(b: &[u8]) -> Case {
        let target = b.first().copied().unwrap_or(0) % TARGETS;
        let flags = b.get(1).copied().unwrap_or(0);
        let mut msgs = Vec::new();
        let mut rest = b.get(2..).unwrap_or_default();
        while rest.len() >= 2 {
            let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            let end = (2 + n).min(rest.len());
            msgs.push(rest[2..end].to_vec());
            rest = &rest[end..];
        }
        Case {
            target,
            flags,
            msgs,
        }
    }
}

fn exporter() -> ChannelBinding {
    ChannelBinding::new(ChannelBindingType::TlsExporter, vec![7u8; 32])
}

fn endpoint() -> ChannelBinding {
    ChannelBinding::new(ChannelBindingType::TlsServerEndPoint, vec![9u8; 32])
}

fn server_cfg(flags: u8, plus: bool) -> ServerMechanismConfig {
    let mut cfg = ServerMechanismConfig::new("example.com")
        .with_authorizer(Arc::new(|_: &str, z: &str| z == "admin@example.com"));
    cfg.rspauth_in_success = flags & 2 != 0;
    if plus || flags & 1 != 0 {
        cfg.channel_bindings = if flags & 4 != 0 {
            vec![exporter()]
        } else {
            vec![exporter(), endpoint()]
        };
    }
    if flags & 8 != 0 {
        cfg.realm = String::new();
    }
    // Unknown users are checked against a decoy at this count: as cheap as
    // the stored account.
    cfg.decoys = cfg.decoys.with_iterations(1);
    cfg
}

fn make_server(target: u8, flags: u8) -> Box<dyn ServerMechanism> {
    let hash = |t: u8| {
        if t & 1 == 0 {
            ScramHash::Sha1
        } else {
            ScramHash::Sha256
        }
    };
    match target {
        0 => Box::new(DigestMd5Server::with_nonce(
            server_cfg(flags, false),
            "abcNONCE",
        )),
        1 => Box::new(PlainServer::new(server_cfg(flags, false))),
        2 | 3 => Box::new(ScramServer::with_nonce(
            hash(target),
            server_cfg(flags, false),
            "serverNONCE",
        )),
        _ => Box::new(
            ScramServer::with_nonce_plus(hash(target), server_cfg(flags, true), "serverNONCE")
                .expect("bindings present"),
        ),
    }
}

fn client_creds(flags: u8, plus: bool) -> ClientCredentials {
    let mut c = ClientCredentials::new("juliet", "r0m30myr0m30", "example.com");
    if flags & 1 != 0 {
        c.authzid = Some("admin@example.com".into());
    }
    c.channel_binding = match (flags >> 1) & 3 {
        _ if plus && flags & 8 != 0 => ClientChannelBinding::Use(endpoint()),
        _ if plus => ClientChannelBinding::Use(exporter()),
        0 => ClientChannelBinding::Unsupported,
        1 => ClientChannelBinding::NotOffered,
        2 => ClientChannelBinding::Use(exporter()),
        _ => ClientChannelBinding::Use(endpoint()),
    };
    c
}

fn make_client(target: u8, flags: u8) -> Box<dyn ClientMechanism> {
    let t = target - SERVER_TARGETS;
    let hash = if t & 1 == 0 {
        ScramHash::Sha1
    } else {
        ScramHash::Sha256
    };
    match t {
        0 => Box::new(DigestMd5Client::with_cnonce(
            client_creds(flags, false),
            "cn0nce",
        )),
        1 => Box::new(PlainClient::new(client_creds(flags, false))),
        2 | 3 => Box::new(
            ScramClient::with_nonce(hash, client_creds(flags, false), "clientNONCE")
                .with_min_iterations(1),
        ),
        _ => Box::new(
            ScramClient::with_nonce_plus(hash, client_creds(flags, true), "clientNONCE")
                .expect("binding present")
                .with_min_iterations(1),
        ),
    }
}

/// One iteration keeps PBKDF2 cheap; the server does not police stored counts.
fn stored() -> &'static StoredCredentials {
    static S: std::sync::OnceLock<StoredCredentials> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        StoredCredentials::derive_with(
            "juliet",
            "r0m30myr0m30",
            &["example.com", ""],
            b"saltsalt",
            b"saltsalt",
            1,
        )
    })
}

fn store_answer(flags: u8) -> Result<Option<StoredCredentials>, StoreError> {
    match (flags >> 4) & 3 {
        0 | 1 => {
            let mut c = stored().clone();
            c.disabled = flags & 0x40 != 0;
            Ok(Some(c))
        }
        2 => Ok(None),
        _ => Err(StoreError::msg("down")),
    }
}

/// Times one call and checks the bound.
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    assert!(t.elapsed() < CALL_LIMIT, "{what} took {:?}", t.elapsed());
    r
}

/// An error text as a feedback key: without the parts that echo peer input
/// (numbers, `e=` texts), so that the key names the code path, not the input.
fn norm(e: &str) -> String {
    if e.starts_with("server reported") {
        return "server reported".into();
    }
    e.chars().filter(|c| !c.is_ascii_digit()).take(60).collect()
}

/// Runs a server target; returns an outcome key (for corpus feedback).
fn run_server(case: &Case) -> String {
    let mut s = make_server(case.target, case.flags);
    let mut msgs = case.msgs.iter();
    let mut key = format!("s{}:", case.target);
    let mut step = timed("start", || {
        if case.flags & F_LAST != 0 {
            s.start(None)
        } else {
            s.start(Some(msgs.next().map(Vec::as_slice).unwrap_or_default()))
        }
    });
    for _ in 0..16 {
        step = match step {
            ServerStep::NeedCredentials { username } => {
                assert!(
                    username.len() <= 4096,
                    "username of {} bytes",
                    username.len()
                );
                key.push('N');
                timed("credentials", || s.credentials(store_answer(case.flags)))
            }
            ServerStep::Challenge(c) => {
                assert!(c.len() <= OUTPUT_LIMIT, "challenge of {} bytes", c.len());
                key.push('C');
                match msgs.next() {
                    Some(m) => timed("step", || s.step(m)),
                    None => return key,
                }
            }
            ServerStep::Success { additional, .. } => {
                assert!(additional.map_or(0, |a| a.len()) <= OUTPUT_LIMIT);
                key.push('S');
                let after = s.step(b"");
                assert!(
                    matches!(after, ServerStep::Failure(_)),
                    "step after success: {after:?}"
                );
                return key;
            }
            ServerStep::Failure(e) => {
                key.push_str(&format!("F{}", norm(&e.failure().to_string())));
                let after = s.step(b"");
                assert!(
                    matches!(after, ServerStep::Failure(_)),
                    "step after failure: {after:?}"
                );
                return key;
            }
        };
    }
    key
}

/// Runs a client target; returns an outcome key.
fn run_client(case: &Case) -> String {
    let mutual = case.target != SERVER_TARGETS + 1; // all but PLAIN
    let mut c = make_client(case.target, case.flags);
    let mut key = format!("c{}:", case.target);
    match timed("initial_response", || c.initial_response()) {
        Ok(r) => assert!(r.map_or(0, |r| r.len()) <= OUTPUT_LIMIT),
        Err(e) => return key + &format!("I{}", norm(&e.to_string())),
    }
    let n = case.msgs.len();
    for (i, m) in case.msgs.iter().enumerate() {
        let r = if case.flags & F_LAST != 0 && i + 1 == n {
            key.push('S');
            timed("success", || c.success(Some(m)))
        } else {
            key.push('R');
            timed("respond", || c.respond(m)).map(|out| {
                assert!(out.len() <= OUTPUT_LIMIT, "response of {} bytes", out.len());
            })
        };
        if let Err(e) = r {
            key.push_str(&format!("E{}", norm(&e.to_string())));
            if mutual {
                assert!(c.success(None).is_err(), "success(None) accepted after {e}");
                assert!(
                    c.success(Some(m)).is_err(),
                    "success(data) accepted after {e}"
                );
            }
            return key;
        }
    }
    if case.flags & F_LAST == 0 {
        key.push_str(if c.success(None).is_ok() { "ok" } else { "no" });
    }
    key
}

/// Client targets: a server may demand up to 1e6 PBKDF2 rounds. That is bounded
/// (MAX_ITERATIONS) but slow; run such cases rarely to keep throughput.
fn expensive(case: &Case) -> bool {
    case.target >= SERVER_TARGETS
        && case.msgs.iter().any(|m| {
            m.windows(2).enumerate().any(|(i, w)| {
                w == b"i="
                    && m[i + 2..]
                        .iter()
                        .take_while(|b| b.is_ascii_digit())
                        .fold(0u64, |a, &d| {
                            a.saturating_mul(10).saturating_add((d - b'0') as u64)
                        })
                        > 20_000
            })
        })
}

fn run(case: &Case) -> String {
    if case.target < SERVER_TARGETS {
        run_server(case)
    } else {
        run_client(case)
    }
}

/// Honest exchanges, recorded: for each pair, the client's messages (a server seed)
/// and the server's messages (a client seed).
fn seeds() -> Vec<Case> {
    let mut out = Vec::new();
    for t in 0..SERVER_TARGETS {
        for flags in [0u8, 1, 2, 3, 4, 8, 9, 0x0b, 0x0d, 0x40, 0x20, 0x30] {
            let mut s = make_server(t, flags);
            let mut c = make_client(t + SERVER_TARGETS, flags);
            let mut client_msgs = Vec::new();
            let mut server_msgs = Vec::new();
            let Ok(initial) = c.initial_response() else {
                continue;
            };
            let start_none = initial.is_none();
            if let Some(i) = &initial {
                client_msgs.push(i.clone());
            }
            let mut step = s.start(initial.as_deref());
            let mut success_data = None;
            for _ in 0..8 {
                step = match step {
                    ServerStep::NeedCredentials { .. } => s.credentials(store_answer(flags)),
                    ServerStep::Challenge(ch) => {
                        server_msgs.push(ch.clone());
                        match c.respond(&ch) {
                            Ok(r) => {
                                client_msgs.push(r.clone());
                                s.step(&r)
                            }
                            Err(_) => break,
                        }
                    }
                    ServerStep::Success { additional, .. } => {
                        success_data = Some(additional);
                        break;
                    }
                    ServerStep::Failure(_) => break,
                };
            }
            let sflags = if start_none { flags | F_LAST } else { flags };
            out.push(Case {
                target: t,
                flags: sflags,
                msgs: client_msgs,
            });
            let mut cflags = flags;
            if let Some(Some(d)) = success_data {
                server_msgs.push(d);
                cflags |= F_LAST;
            }
            out.push(Case {
                target: t + SERVER_TARGETS,
                flags: cflags,
                msgs: server_msgs,
            });
        }
    }
    out
}

const MUTATOR: Mutator = Mutator {
    tokens: TOKENS,
    max_edits: 4,
    max_len: 6000,
};

const TOKENS: &[&[u8]] = &[
    b",",
    b"=",
    b",,",
    b"n,,",
    b"y,,",
    b"p=tls-exporter,,",
    b"p=tls-server-end-point,",
    b"p=tls-unique,,",
    b"a=",
    b"n=",
    b"r=",
    b"s=",
    b"i=",
    b"c=",
    b"p=",
    b"v=",
    b"e=",
    b"m=",
    b"=2C",
    b"=3D",
    b"=2",
    b"i=0",
    b"i=4096",
    b"i=1",
    b"i=99999999999999999999",
    b"i=-1",
    b"i=01",
    b"biws",
    b"eSws",
    b"====",
    b"AAAA",
    b"\0",
    b"\0\0",
    b"\"",
    b"\\",
    b"\\\"",
    b" ",
    b"\r\n",
    b"\t",
    b"realm=",
    b"nonce=",
    b"cnonce=",
    b"nc=",
    b"nc=00000001",
    b"nc=ffffffff",
    b"qop=",
    b"qop=auth",
    b"qop=\"auth,auth-int\"",
    b"charset=utf-8",
    b"algorithm=md5-sess",
    b"digest-uri=\"xmpp/example.com\"",
    b"response=",
    b"rspauth=",
    b"authzid=",
    b"username=",
    b"maxbuf=",
    b"cipher=\"rc4\"",
    b"\xc3\xa9",
    b"\xe2\x82\xac",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"admin@example.com",
    b"juliet",
    b"clientNONCE",
    b"serverNONCE",
    b"abcNONCE",
    b"cn0nce",
];

fn mutate(rng: &mut Rng, corpus: &[Case]) -> Case {
    let mut c = corpus[rng.below(corpus.len())].clone();
    let donor = &corpus[rng.below(corpus.len())];
    match rng.below(16) {
        0 => c.flags ^= 1 << rng.below(8),
        1 if !c.msgs.is_empty() => {
            c.msgs.remove(rng.below(c.msgs.len()));
        }
        2 => {
            let i = rng.below(c.msgs.len() + 1);
            let m = donor
                .msgs
                .get(rng.below(donor.msgs.len().max(1)))
                .cloned()
                .unwrap_or_default();
            c.msgs.insert(i, m);
        }
        3 if !c.msgs.is_empty() => {
            // Same mechanism family, other side or hash: swap the target.
            c.target = rng.below(TARGETS as usize) as u8;
        }
        _ => {
            if c.msgs.is_empty() {
                c.msgs.push(Vec::new());
            }
            let i = rng.below(c.msgs.len());
            let d = donor
                .msgs
                .get(rng.below(donor.msgs.len().max(1)))
                .cloned()
                .unwrap_or_default();
            MUTATOR.mutate(rng, &mut c.msgs[i], &d);
        }
    }
    c.msgs.truncate(6);
    c
}

struct SaslMechanisms;

impl Target for SaslMechanisms {
    type Case = Case;
    const NAME: &'static str = "sasl_mechanisms";
    const CORPUS_CAP: usize = 8000;
    const KEEP_ONE_IN: usize = 1024;

    fn seeds(&self) -> Vec<Case> {
        let corpus = seeds();
        // Some honest transcripts per target must authenticate, otherwise the seeds
        // cannot reach the deep states. (Others fail by design: a downgrade, an
        // unknown user, a disabled account, a store error.)
        let mut ok_targets = std::collections::BTreeSet::new();
        for c in &corpus {
            let k = run(c);
            if k.ends_with('S') || k.ends_with("ok") {
                ok_targets.insert(c.target);
            }
        }
        assert_eq!(
            ok_targets.len(),
            TARGETS as usize,
            "targets with an honest seed: {ok_targets:?}"
        );
        corpus
    }

    fn mutate(&self, rng: &mut Rng, corpus: &[Case]) -> Case {
        mutate(rng, corpus)
    }

    fn run_now(&self, case: &Case, rng: &mut Rng) -> bool {
        !expensive(case) || rng.below(2000) == 0
    }

    fn check(&self, case: &Case) -> Result<String, String> {
        Ok(run(case))
    }

    fn encode(&self, case: &Case) -> Vec<u8> {
        case.encode()
    }

    fn replay(&self, bytes: &[u8]) -> Result<String, String> {
        let case = Case::decode(bytes);
        xmpp_fuzz::driver::catch_panic(|| Ok(run(&case))).map_err(|why| format!("{why}\n{case:?}"))
    }
}

fn main() -> ExitCode {
    xmpp_fuzz::driver::main(SaslMechanisms)
}
