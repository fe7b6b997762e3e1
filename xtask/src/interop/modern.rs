//! The modern peers' part of `selftest`: proof that Prosody 13 and ejabberd 24.12 really
//! negotiate SASL2 + Bind2 + FAST (+ SSDP), with `clients/sasl2_login.py` (stdlib) on
//! plaintext, STARTTLS and direct TLS (and through a man in the middle that hides
//! mechanisms, which SSDP must expose), go-sendxmpp 0.14.1 (a SASL2/FAST client of its own)
//! over STARTTLS, and a WebSocket upgrade on each HTTP listener.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::report;
use crate::peers::{
    Layout, DOMAIN, EJABBERD24_DIRECT_TLS_PORT, EJABBERD24_HTTP_PORT, EJABBERD24_PORT,
    EJABBERD24_WS_PATH, PROSODY13_DIRECT_TLS_PORT, PROSODY13_HTTP_PORT, PROSODY13_PORT,
    PROSODY13_WS_PATH, USER,
};
use crate::ports::{free_port, wait_port};
use crate::process::{run_with_timeout, Proc};

/// The drivers' own `--timeout`; the harness kills them 10 s after it.
const TIMEOUT_SECS: u64 = 20;

/// How a case reaches the server.
#[derive(Clone, Copy)]
enum Transport {
    Plain,
    StartTls,
    DirectTls,
}

/// What a case runs.
enum Check {
    /// `sasl2_login.py` with `mech` (`MECH` or `MECH/CB-TYPE`), then, with `fast`, a second
    /// login with the token it asked for; `ssdp`: an `h=` must be there and right.
    Sasl2 {
        port: u16,
        transport: Transport,
        mech: &'static str,
        fast: Option<&'static str>,
        ssdp: bool,
        wrong_password: bool,
    },
    /// go-sendxmpp sends a message to the account twice with one HOME: a full SASL2 login
    /// asking for a FAST token, then a FAST login with it.
    GoSendxmpp { port: u16 },
    /// `sasl2_login.py` through `mech_filter_proxy.py`, which hides every mechanism but
    /// `keep`: the server's SSDP `h=` covers what it really offered, so the driver must
    /// see the downgrade and refuse the login.
    SsdpDowngrade { port: u16, keep: &'static str },
    /// An RFC 7395 upgrade: `101` with the `xmpp` subprotocol.
    WebSocket { port: u16, path: &'static str },
}

struct Case {
    client: &'static str,
    server: &'static str,
    what: &'static str,
    check: Check,
}

const fn sasl2(
    server: &'static str,
    port: u16,
    transport: Transport,
    mech: &'static str,
    fast: Option<&'static str>,
) -> Case {
    Case {
        client: "sasl2_login",
        server,
        what: mech,
        check: Check::Sasl2 {
            port,
            transport,
            mech,
            fast,
            ssdp: false,
            wrong_password: false,
        },
    }
}

/// The cases, in table order. Prosody 13 stores SCRAM-SHA-256 keys only (no SCRAM-SHA-1);
/// ejabberd 24.12 stores the password (every SCRAM). Python's ssl has no tls-exporter:
/// `-PLUS` runs with tls-server-end-point, or tls-unique (TLS 1.2), and FAST with -NONE,
/// -ENDP (ejabberd only: Prosody offers no ENDP) or -UNIQ (TLS 1.2).
fn cases() -> Vec<Case> {
    use Transport::{DirectTls, Plain, StartTls};
    let none = Some("HT-SHA-256-NONE");
    let with_ssdp = |mut c: Case| {
        if let Check::Sasl2 { ssdp, .. } = &mut c.check {
            *ssdp = true;
        }
        c
    };
    let wrong = |mut c: Case| {
        if let Check::Sasl2 { wrong_password, .. } = &mut c.check {
            *wrong_password = true;
        }
        c
    };
    vec![
        with_ssdp(sasl2(
            "prosody13",
            PROSODY13_PORT,
            Plain,
            "SCRAM-SHA-256",
            none,
        )),
        sasl2("prosody13", PROSODY13_PORT, Plain, "PLAIN", None),
        sasl2(
            "prosody13-starttls",
            PROSODY13_PORT,
            StartTls,
            "SCRAM-SHA-256-PLUS",
            none,
        ),
        sasl2(
            "prosody13-direct",
            PROSODY13_DIRECT_TLS_PORT,
            DirectTls,
            "SCRAM-SHA-256-PLUS/tls-unique",
            Some("HT-SHA-256-UNIQ"),
        ),
        wrong(sasl2(
            "prosody13",
            PROSODY13_PORT,
            Plain,
            "SCRAM-SHA-256",
            None,
        )),
        with_ssdp(sasl2(
            "ejabberd24",
            EJABBERD24_PORT,
            Plain,
            "SCRAM-SHA-1",
            none,
        )),
        sasl2("ejabberd24", EJABBERD24_PORT, Plain, "PLAIN", None),
        sasl2(
            "ejabberd24-starttls",
            EJABBERD24_PORT,
            StartTls,
            "SCRAM-SHA-256-PLUS",
            Some("HT-SHA-256-ENDP"),
        ),
        sasl2(
            "ejabberd24-direct",
            EJABBERD24_DIRECT_TLS_PORT,
            DirectTls,
            "SCRAM-SHA-512-PLUS/tls-unique",
            Some("HT-SHA-256-UNIQ"),
        ),
        wrong(sasl2(
            "ejabberd24",
            EJABBERD24_PORT,
            Plain,
            "SCRAM-SHA-1",
            None,
        )),
        Case {
            client: "sasl2_login",
            server: "prosody13 via MITM",
            what: "SCRAM-SHA-256 (SSDP)",
            check: Check::SsdpDowngrade {
                port: PROSODY13_PORT,
                keep: "SCRAM-SHA-256",
            },
        },
        Case {
            client: "sasl2_login",
            server: "ejabberd24 via MITM",
            what: "SCRAM-SHA-1 (SSDP)",
            check: Check::SsdpDowngrade {
                port: EJABBERD24_PORT,
                keep: "SCRAM-SHA-1",
            },
        },
        Case {
            client: "go-sendxmpp",
            server: "prosody13-starttls",
            what: "(its choice) + FAST",
            check: Check::GoSendxmpp {
                port: PROSODY13_PORT,
            },
        },
        Case {
            client: "go-sendxmpp",
            server: "ejabberd24-starttls",
            what: "(its choice) + FAST",
            check: Check::GoSendxmpp {
                port: EJABBERD24_PORT,
            },
        },
        Case {
            client: "websocket",
            server: "prosody13-ws",
            what: "HTTP upgrade",
            check: Check::WebSocket {
                port: PROSODY13_HTTP_PORT,
                path: PROSODY13_WS_PATH,
            },
        },
        Case {
            client: "websocket",
            server: "ejabberd24-ws",
            what: "HTTP upgrade",
            check: Check::WebSocket {
                port: EJABBERD24_HTTP_PORT,
                path: EJABBERD24_WS_PATH,
            },
        },
    ]
}

/// Runs the cases, printing a table row each; returns (passed, failed).
pub(super) fn run(layout: &Layout, env: &BTreeMap<&'static str, String>) -> (usize, usize) {
    let mut failed = 0;
    let cases = cases();
    for c in &cases {
        let t = Instant::now();
        let verdict = match &c.check {
            Check::Sasl2 { .. } => sasl2_case(layout, env, &c.check),
            Check::SsdpDowngrade { port, keep } => ssdp_downgrade(layout, env, *port, keep),
            Check::GoSendxmpp { port } => go_sendxmpp(layout, env, *port),
            Check::WebSocket { port, path } => websocket(*port, path),
        };
        let ms = t.elapsed().as_millis();
        if verdict.is_err() {
            failed += 1;
        }
        let password = match c.check {
            Check::Sasl2 {
                wrong_password: true,
                ..
            } => "wrong",
            Check::WebSocket { .. } => "-",
            _ => "right",
        };
        report::table_row(c.client, c.server, c.what, password, ms, &verdict);
    }
    (cases.len() - failed, failed)
}

fn sasl2_case(
    layout: &Layout,
    env: &BTreeMap<&'static str, String>,
    check: &Check,
) -> Result<String, String> {
    let Check::Sasl2 {
        port,
        transport,
        mech,
        fast,
        ssdp,
        wrong_password,
    } = *check
    else {
        unreachable!("sasl2_case takes Check::Sasl2")
    };
    let (mech, cb) = match mech.split_once('/') {
        Some((m, cb)) => (m, Some(cb)),
        None => (mech, None),
    };
    let mut cmd = Command::new(&env["XMPP_INTEROP_PYTHON"]);
    cmd.arg(layout.clients().join("sasl2_login.py"))
        .args([
            "--port",
            &port.to_string(),
            "--jid",
            &format!("{USER}@{DOMAIN}"),
        ])
        .args(["--mechanism", mech, "--timeout", &TIMEOUT_SECS.to_string()])
        .args(["--password-env", "XMPP_INTEROP_PASSWORD"])
        .envs(env);
    if wrong_password {
        cmd.env("XMPP_INTEROP_PASSWORD", "not-the-password");
    }
    match transport {
        Transport::Plain => {}
        Transport::StartTls => {
            cmd.arg("--tls");
        }
        Transport::DirectTls => {
            cmd.arg("--direct-tls");
        }
    }
    if !matches!(transport, Transport::Plain) {
        cmd.arg("--ca-file").arg(layout.ca_file());
    }
    if let Some(cb) = cb {
        cmd.args(["--channel-binding", cb]);
    }
    if let Some(fast) = fast {
        cmd.args(["--fast", fast]);
    }
    if ssdp {
        cmd.args(["--ssdp", "require"]);
    }
    let (status, stdout, stderr) = run_with_timeout(cmd, Duration::from_secs(TIMEOUT_SECS + 10))?;
    if wrong_password {
        return if !status.success()
            && !stdout.contains("LOGIN OK")
            && stderr.contains("not-authorized")
        {
            Ok(format!("refused as expected ({})", last_line(&stderr)))
        } else {
            Err(format!(
                "not refused cleanly: {status} {stdout:?} {stderr:?}"
            ))
        };
    }
    judge_sasl2(status, &stdout, &stderr, mech, fast, ssdp)
}

/// A login is good when each expected `LOGIN OK` line is there, with the bound full JID.
fn judge_sasl2(
    status: ExitStatus,
    stdout: &str,
    stderr: &str,
    mech: &str,
    fast: Option<&str>,
    ssdp: bool,
) -> Result<String, String> {
    if !status.success() {
        return Err(format!("{status}: {}{}", stderr.trim(), stdout.trim()));
    }
    let logins: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("LOGIN OK"))
        .collect();
    let want: Vec<&str> = std::iter::once(mech).chain(fast).collect();
    let jid = format!("jid={USER}@{DOMAIN}/");
    let good = logins.len() == want.len()
        && logins
            .iter()
            .zip(&want)
            .all(|(l, m)| l.contains(&jid) && l.contains(&format!(" mechanism={m} ")));
    if !good {
        return Err(format!("unexpected output {stdout:?}"));
    }
    let ssdp_line = stdout.lines().find(|l| l.starts_with("SSDP "));
    if ssdp && ssdp_line != Some("SSDP present=yes verified=yes") {
        return Err(format!("no verified SSDP h=: {stdout:?}"));
    }
    let bound = logins[0]
        .split_whitespace()
        .find_map(|w| w.strip_prefix("jid="))
        .unwrap_or("");
    let mut detail = want.join(" then ");
    if ssdp {
        detail.push_str(", SSDP h= ok");
    }
    Ok(format!("{detail}, {bound}"))
}

fn ssdp_downgrade(
    layout: &Layout,
    env: &BTreeMap<&'static str, String>,
    port: u16,
    keep: &str,
) -> Result<String, String> {
    let listen = free_port()?;
    let mut proxy = Command::new(&env["XMPP_INTEROP_PYTHON"]);
    proxy
        .arg(layout.clients().join("mech_filter_proxy.py"))
        .args(["--allow", keep, "--listen", &listen.to_string()])
        .args(["--upstream-port", &port.to_string(), "--lifetime", "60"])
        .stdout(Stdio::null());
    let child = proxy
        .spawn()
        .map_err(|e| format!("cannot start mech_filter_proxy.py: {e}"))?;
    // Stopped (by pid) when this returns.
    let _proxy = Proc {
        name: "mech_filter_proxy".into(),
        child,
    };
    wait_port(&format!("127.0.0.1:{listen}"), Duration::from_secs(10))?;
    let mut cmd = Command::new(&env["XMPP_INTEROP_PYTHON"]);
    cmd.arg(layout.clients().join("sasl2_login.py"))
        .args([
            "--port",
            &listen.to_string(),
            "--jid",
            &format!("{USER}@{DOMAIN}"),
        ])
        .args(["--mechanism", keep, "--timeout", &TIMEOUT_SECS.to_string()])
        .args(["--password-env", "XMPP_INTEROP_PASSWORD"])
        .envs(env);
    let (status, stdout, stderr) = run_with_timeout(cmd, Duration::from_secs(TIMEOUT_SECS + 10))?;
    if !status.success()
        && !stdout.contains("LOGIN OK")
        && stderr.contains("SSDP: h=")
        && stdout.contains(&format!("FEATURES sasl2={keep} "))
    {
        Ok(format!(
            "offered only {keep}: downgrade seen, refused ({})",
            last_line(&stderr)
        ))
    } else {
        Err(format!(
            "downgrade not detected: {status} {stdout:?} {stderr:?}"
        ))
    }
}

/// go-sendxmpp twice: the first run must authenticate with SASL2 and store a FAST token,
/// the second must use it (an `HT-*` mechanism). The CA reaches Go through SSL_CERT_FILE:
/// the certificate is verified (go-sendxmpp has no CA option; `-n` would skip the check).
fn go_sendxmpp(
    layout: &Layout,
    env: &BTreeMap<&'static str, String>,
    port: u16,
) -> Result<String, String> {
    let home = std::env::temp_dir().join(format!(
        "xmpp-interop-go-sendxmpp-{}-{port}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&home);
    fs::create_dir_all(&home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    let result = (|| {
        let mut used = Vec::new();
        for round in 1..=2 {
            let msg = home.join("message.txt");
            fs::write(
                &msg,
                format!("interop selftest, go-sendxmpp round {round}\n"),
            )
            .map_err(|e| e.to_string())?;
            let mut cmd = Command::new(layout.go_sendxmpp_bin());
            cmd.args(["--suppress-root-warning", "-d", "--timeout", "10"])
                .args([
                    "-u",
                    &format!("{USER}@{DOMAIN}"),
                    "-p",
                    &env["XMPP_INTEROP_PASSWORD"],
                ])
                .args(["-j", &format!("127.0.0.1:{port}"), "-m"])
                .arg(&msg)
                .arg(format!("{USER}@{DOMAIN}"))
                .env("HOME", &home)
                .env("SSL_CERT_FILE", layout.ca_file());
            let (status, stdout, stderr) =
                run_with_timeout(cmd, Duration::from_secs(TIMEOUT_SECS))?;
            if !status.success() {
                return Err(format!("round {round}: {status}: {}", last_line(&stderr)));
            }
            let all = format!("{stdout}\n{stderr}");
            let mech = sasl2_mechanism(&all)
                .ok_or_else(|| format!("round {round}: no SASL2 <authenticate> in its log"))?;
            if round == 1 && !all.contains("<request-token xmlns='urn:xmpp:fast:0'") {
                return Err(format!("round 1 ({mech}) asked for no FAST token"));
            }
            if round == 2 && !mech.starts_with("HT-") {
                return Err(format!("round 2 used {mech}, not its FAST token"));
            }
            used.push(mech);
        }
        Ok(format!("SASL2 {} then {}, message sent", used[0], used[1]))
    })();
    let _ = fs::remove_dir_all(&home);
    result
}

/// The mechanism of the (first) SASL2 `<authenticate>` in a wire log.
fn sasl2_mechanism(log: &str) -> Option<String> {
    let at = log.find("<authenticate xmlns='urn:xmpp:sasl:2'")?;
    let rest = &log[at..];
    let rest = &rest[rest.find("mechanism='")? + "mechanism='".len()..];
    Some(rest[..rest.find('\'')?].to_owned())
}

/// An RFC 7395 opening handshake: the server must switch protocols to `xmpp`.
fn websocket(port: u16, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {DOMAIN}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: xmpp\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("reading the response: {e}")),
        }
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    // RFC 6455 §1.3's sample key gives this accept value.
    let ok = head.starts_with("http/1.1 101")
        && head.lines().any(|l| {
            l.split_once(':')
                .is_some_and(|(k, v)| k.trim() == "sec-websocket-protocol" && v.trim() == "xmpp")
        })
        && head.contains("s3pplmbitxaq9kygzzhzrbk+xoo=");
    if ok {
        Ok(format!(
            "101 Switching Protocols, xmpp, ws://127.0.0.1:{port}{path}"
        ))
    } else {
        Err(format!("unexpected response {head:?}"))
    }
}

fn last_line(s: &str) -> &str {
    s.trim().lines().last().unwrap_or("")
}
