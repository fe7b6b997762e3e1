//! The probe peers' part of `selftest`: proof, with `openssl s_client` and a raw stream
//! header, that the configurations added for `xmpp probe` present what their configs say
//! (the expired and the wrong-name certificate, TLS 1.2 only, STARTTLS required or not),
//! so that a probe test failing on them is about the probe.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use super::report;
use crate::peers::{
    Layout, DOMAIN, EJABBERD24_TLS_PORT, PROSODY13_WRONG_NAME_HTTP_PORT, PROSODY13_WRONG_NAME_PORT,
    PROSODY13_WS_PATH, PROSODY_EXPIRED_DIRECT_TLS_PORT, PROSODY_EXPIRED_PORT,
};
use crate::process::run_with_timeout;

/// What one case checks.
enum Check {
    /// `openssl s_client` (STARTTLS unless `direct`), verifying for the domain against the
    /// test CA; the output must contain every one of `want`.
    Tls {
        port: u16,
        direct: bool,
        args: &'static [&'static str],
        want: &'static [&'static str],
    },
    /// The features before TLS: `<starttls>`, with `<required/>` or without.
    Features { port: u16, required: bool },
    /// `GET /.well-known/host-meta.json`: 200, listing exactly this WebSocket URL.
    HostMeta { port: u16 },
}

struct Case {
    server: &'static str,
    what: &'static str,
    check: Check,
}

fn cases() -> Vec<Case> {
    const EXPIRED: &str = "Verify return code: 10 (certificate has expired)";
    vec![
        Case {
            server: "prosody-expired",
            what: "STARTTLS: expired, TLS 1.2",
            check: Check::Tls {
                port: PROSODY_EXPIRED_PORT,
                direct: false,
                args: &[],
                want: &[EXPIRED, "New, TLSv1.2,"],
            },
        },
        Case {
            server: "prosody-expired",
            what: "TLS 1.3 alone: refused",
            check: Check::Tls {
                port: PROSODY_EXPIRED_PORT,
                direct: false,
                args: &["-tls1_3"],
                want: &["alert protocol version"],
            },
        },
        Case {
            server: "prosody-expired",
            what: "STARTTLS offered, optional",
            check: Check::Features {
                port: PROSODY_EXPIRED_PORT,
                required: false,
            },
        },
        Case {
            server: "prosody-expired-direct",
            what: "direct TLS: expired",
            check: Check::Tls {
                port: PROSODY_EXPIRED_DIRECT_TLS_PORT,
                direct: true,
                args: &[],
                want: &[EXPIRED, "New, TLSv1.2,"],
            },
        },
        Case {
            server: "prosody13-wrong-name",
            what: "STARTTLS: wrong name",
            check: Check::Tls {
                port: PROSODY13_WRONG_NAME_PORT,
                direct: false,
                args: &[],
                want: &[
                    "Verify return code: 62 (hostname mismatch)",
                    "New, TLSv1.3,",
                ],
            },
        },
        Case {
            server: "prosody13-wrong-name",
            what: "STARTTLS required",
            check: Check::Features {
                port: PROSODY13_WRONG_NAME_PORT,
                required: true,
            },
        },
        Case {
            server: "prosody13-wrong-name",
            what: "host-meta lists its ws://",
            check: Check::HostMeta {
                port: PROSODY13_WRONG_NAME_HTTP_PORT,
            },
        },
        Case {
            server: "ejabberd24-tls",
            what: "STARTTLS: verified",
            check: Check::Tls {
                port: EJABBERD24_TLS_PORT,
                direct: false,
                args: &[],
                want: &["Verify return code: 0 (ok)", "New, TLSv1.3,"],
            },
        },
        Case {
            server: "ejabberd24-tls",
            what: "STARTTLS required",
            check: Check::Features {
                port: EJABBERD24_TLS_PORT,
                required: true,
            },
        },
    ]
}

/// Runs the cases, printing a table row each; returns (passed, failed).
pub(super) fn run(layout: &Layout) -> (usize, usize) {
    let cases = cases();
    let mut failed = 0;
    for c in &cases {
        let t = Instant::now();
        let (client, verdict) = match &c.check {
            Check::Tls {
                port,
                direct,
                args,
                want,
            } => ("openssl", s_client(layout, *port, *direct, args, want)),
            Check::Features { port, required } => ("raw", starttls_offer(*port, *required)),
            Check::HostMeta { port } => ("http", host_meta(*port)),
        };
        if verdict.is_err() {
            failed += 1;
        }
        let ms = t.elapsed().as_millis();
        report::table_row(client, c.server, c.what, "-", ms, &verdict);
    }
    (cases.len() - failed, failed)
}

fn s_client(
    layout: &Layout,
    port: u16,
    direct: bool,
    args: &[&str],
    want: &[&str],
) -> Result<String, String> {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .arg("-CAfile")
        .arg(layout.ca_file())
        .args(["-verify_hostname", DOMAIN, "-servername", DOMAIN])
        .args(args);
    if !direct {
        cmd.args(["-starttls", "xmpp", "-xmpphost", DOMAIN]);
    }
    let (_, stdout, stderr) = run_with_timeout(cmd, Duration::from_secs(15))?;
    let all = format!("{stdout}\n{stderr}");
    match want.iter().find(|w| !all.contains(**w)) {
        None => Ok(want.join(", ")),
        Some(missing) => {
            let lines: Vec<&str> = all.trim().lines().collect();
            let tail = lines[lines.len().saturating_sub(12)..].join("\n");
            Err(format!(
                "no {missing:?} in openssl's output, ending:\n{tail}"
            ))
        }
    }
}

/// Sends a stream header and reads the features, which must offer STARTTLS as asked.
fn starttls_offer(port: u16, required: bool) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "<?xml version='1.0'?><stream:stream to='{DOMAIN}' version='1.0' \
         xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("</stream:features>") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) => return Err(format!("reading the features: {e}; so far {text:?}")),
        }
    }
    let features = text
        .split_once("<stream:features>")
        .map(|(_, f)| f)
        .ok_or_else(|| format!("no features in {text:?}"))?;
    let rest = features
        .split_once("<starttls")
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("no <starttls> in {features:?}"))?;
    // `<starttls xmlns='...'/>` is empty; otherwise `<required/>` may be inside.
    let open_tag = rest.split('>').next().unwrap_or("");
    let has_required = !open_tag.ends_with('/')
        && rest
            .split("</starttls>")
            .next()
            .is_some_and(|inner| inner.contains("<required"));
    if has_required == required {
        Ok(if required {
            "<starttls><required/>".to_owned()
        } else {
            "<starttls/>".to_owned()
        })
    } else {
        Err(format!("want required={required}: {features:?}"))
    }
}

/// The JSON host-meta must list this port's WebSocket, with the address (http_external_url).
fn host_meta(port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET /.well-known/host-meta.json HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text)
        .map_err(|e| format!("reading the answer: {e}"))?;
    let want = format!("\"ws://127.0.0.1:{port}{PROSODY13_WS_PATH}\"");
    if text.starts_with("HTTP/1.1 200") && text.contains(&want) {
        Ok(format!("200, {want}"))
    } else {
        Err(format!("want 200 listing {want}: {text:?}"))
    }
}
