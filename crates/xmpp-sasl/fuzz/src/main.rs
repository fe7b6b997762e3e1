//! Fuzz driver for every xmpp-sasl mechanism, client and server, on the stable
//! toolchain (cargo-fuzz needs nightly).
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
//! reported an error.
//!
//! Usage:
//!   sasl_mechanisms [--seconds N] [--execs N] [--seed N]   # fuzz
//!   sasl_mechanisms FILE...                                 # replay saved cases
//! A failing case is written to `artifacts/` (next to this crate's Cargo.toml).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use xmpp_sasl::*;

const SERVER_TARGETS: u8 = 6;
const TARGETS: u8 = 12;
const NAMES: [&str; 6] = [
    "DIGEST-MD5",
    "PLAIN",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256-PLUS",
];
/// Longest any single call may take. Generous: a hostile server may legitimately
/// demand up to MAX_ITERATIONS (1e6) PBKDF2 rounds from a client.
const CALL_LIMIT: Duration = Duration::from_secs(5);
/// Largest message a mechanism may produce.
const OUTPUT_LIMIT: usize = 8192;
/// Flag bit: server targets call `start(None)`; client targets pass the last
/// message to `success(Some(..))` instead of `respond`.
const F_LAST: u8 = 0x80;

#[derive(Clone, Debug)]
struct Case {
    target: u8,
    flags: u8,
    msgs: Vec<Vec<u8>>,
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
        _ => Err(StoreError("down".into())),
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

fn check(case: &Case) -> Result<String, String> {
    catch_unwind(AssertUnwindSafe(|| run(case))).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
        format!("panic: {}", msg.unwrap_or_default())
    })
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

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

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

fn mutate_bytes(rng: &mut Rng, d: &mut Vec<u8>, donor: &[u8]) {
    for _ in 0..1 + rng.below(4) {
        let i = rng.below(d.len() + 1);
        match rng.below(9) {
            0 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] = rng.next() as u8;
            }
            1 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
            2 if !d.is_empty() => {
                let i = rng.below(d.len());
                let n = 1 + rng.below(16.min(d.len() - i));
                d.drain(i..i + n);
            }
            3 | 4 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                d.splice(i..i, t.iter().copied());
            }
            5 if !donor.is_empty() => {
                let a = rng.below(donor.len());
                let b = a + rng.below(donor.len() - a + 1);
                d.splice(i..i, donor[a..b].iter().copied());
            }
            6 if !d.is_empty() => {
                let a = rng.below(d.len());
                let b = (a + 1 + rng.below(32)).min(d.len());
                let chunk = d[a..b].to_vec();
                let most = if rng.below(8) == 0 { 400 } else { 8 };
                for _ in 0..1 + rng.below(most) {
                    d.splice(a..a, chunk.iter().copied());
                }
            }
            7 if !d.is_empty() => d.truncate(rng.below(d.len())),
            _ => d.insert(i.min(d.len()), rng.next() as u8),
        }
    }
    d.truncate(6000);
}

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
            mutate_bytes(rng, &mut c.msgs[i], &d);
        }
    }
    c.msgs.truncate(6);
    c
}

fn save(case: &Case, why: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    let _ = std::fs::create_dir_all(&dir);
    let bytes = case.encode();
    let h = bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    let path = dir.join(format!("crash-{h:016x}"));
    let _ = std::fs::write(&path, &bytes);
    eprintln!(
        "FAILURE ({why})\ncase {case:?}\nsaved to {}",
        path.display()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seconds = 60u64;
    let mut max_execs = u64::MAX;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = || {
            it.next()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{a} needs a number"))
        };
        match a.as_str() {
            "--seconds" => seconds = num(),
            "--execs" => max_execs = num(),
            "--seed" => seed = num().max(1),
            f => files.push(f.to_string()),
        }
    }
    if !files.is_empty() {
        std::panic::set_hook(Box::new(|_| {}));
        let mut failed = false;
        for f in files {
            let case = Case::decode(&std::fs::read(&f).expect("read input"));
            match check(&case) {
                Ok(k) => println!("{f}: ok ({k})"),
                Err(why) => {
                    eprintln!("{f}: {why}\n{case:?}");
                    failed = true;
                }
            }
        }
        std::process::exit(i32::from(failed));
    }
    let mut corpus = seeds();
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
    std::panic::set_hook(Box::new(|_| {}));
    let n_seeds = corpus.len();
    let mut rng = Rng(seed);
    let mut seen = std::collections::HashSet::new();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let (mut execs, mut skipped) = (0u64, 0u64);
    let mut last_report = start;
    while execs < max_execs && Instant::now() < deadline {
        for _ in 0..64 {
            let case = mutate(&mut rng, &corpus);
            if expensive(&case) && rng.below(2000) != 0 {
                skipped += 1;
                continue;
            }
            match check(&case) {
                Err(why) => {
                    save(&case, &why);
                    std::process::exit(1);
                }
                Ok(key) => {
                    // Keep cases that reach a new outcome (crude coverage feedback).
                    if seen.insert(key) || rng.below(1024) == 0 {
                        if corpus.len() < 8000 {
                            corpus.push(case);
                        } else {
                            let i = n_seeds + rng.below(corpus.len() - n_seeds);
                            corpus[i] = case;
                        }
                    }
                }
            }
            execs += 1;
        }
        if last_report.elapsed() > Duration::from_secs(15) {
            last_report = Instant::now();
            eprintln!(
                "{execs} execs, {:.0}/s, corpus {}, outcomes {}",
                execs as f64 / start.elapsed().as_secs_f64(),
                corpus.len(),
                seen.len()
            );
        }
    }
    println!(
        "done: {execs} executions in {:.1}s ({skipped} expensive cases skipped), no failures; corpus {}, distinct outcomes {}, seeds {n_seeds}",
        start.elapsed().as_secs_f64(),
        corpus.len(),
        seen.len()
    );
    let _ = NAMES;
}
