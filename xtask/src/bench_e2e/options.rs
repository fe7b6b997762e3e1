//! `cargo xtask bench-e2e`'s options and login modes.

use crate::peers::TestCert;

/// How a bench run logs in (`xmpp bench`'s flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// RFC 6120: SASL, a stream restart, then resource binding.
    Rfc6120,
    /// SASL2 (XEP-0388) with Bind2 (XEP-0386): `--sasl2`.
    Sasl2,
    /// FAST token logins (XEP-0484): `--fast`.
    Fast,
    /// Stream management resumptions (XEP-0198) after RFC 6120 SASL:
    /// `--resume`.
    Resume,
    /// Resumptions inside SASL2's `<authenticate/>`: `--resume --sasl2`.
    Sasl2Resume,
    /// Not a login protocol: the WebSocket table (RFC 7395 over `ws://`
    /// against TCP without TLS), with the other modes given (RFC 6120 if
    /// none) as its login protocols.
    WebSocket,
}

impl Mode {
    const ALL: [Mode; 6] = [
        Mode::Rfc6120,
        Mode::Sasl2,
        Mode::Fast,
        Mode::Resume,
        Mode::Sasl2Resume,
        Mode::WebSocket,
    ];

    pub(super) fn parse(name: &str) -> Result<Self, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == name.trim())
            .ok_or_else(|| {
                format!(
                    "unknown mode {name:?}: rfc6120, sasl2, fast, resume, sasl2-resume or websocket"
                )
            })
    }

    /// A row of the modes table (over STARTTLS).
    fn over_starttls(self) -> bool {
        !matches!(self, Mode::Rfc6120 | Mode::WebSocket)
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Mode::Rfc6120 => "rfc6120",
            Mode::Sasl2 => "sasl2",
            Mode::Fast => "fast",
            Mode::Resume => "resume",
            Mode::Sasl2Resume => "sasl2-resume",
            Mode::WebSocket => "websocket",
        }
    }

    /// The `xmpp bench` flags (none for [`Mode::WebSocket`]: its rows say
    /// their protocol and `--websocket URL`).
    pub(super) fn flags(self) -> &'static [&'static str] {
        match self {
            Mode::Rfc6120 | Mode::WebSocket => &[],
            Mode::Sasl2 => &["--sasl2"],
            Mode::Fast => &["--fast"],
            Mode::Resume => &["--resume"],
            Mode::Sasl2Resume => &["--resume", "--sasl2"],
        }
    }
}

pub(super) struct Opts {
    pub(super) duration: String,
    pub(super) concurrency: usize,
    pub(super) users: u32,
    pub(super) hold: usize,
    pub(super) peers: bool,
    pub(super) tls: bool,
    pub(super) hold_run: bool,
    pub(super) plain_runs: bool,
    /// The per-mechanism STARTTLS table.
    pub(super) tls_mechanism_runs: bool,
    pub(super) mechanisms: Vec<String>,
    /// The modes of the modes table (none with only `rfc6120`).
    pub(super) modes: Vec<Mode>,
    pub(super) modes_mechanism: String,
    /// The TLS logins table (full and resumed handshakes against the modern peers).
    pub(super) tls_logins: bool,
    /// Its mechanism.
    pub(super) tls_mechanism: String,
    /// The certificate of every server in the TLS rows: `--cert p256` (the
    /// default) or `--cert rsa` (RSA-2048).
    pub(super) cert: TestCert,
}

impl Opts {
    pub(super) fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Opts {
            duration: "10s".into(),
            concurrency: 50,
            users: 10,
            // The server's default connection cap under a 20,000-descriptor
            // limit is 19,936.
            hold: 19_900,
            peers: true,
            tls: true,
            hold_run: true,
            plain_runs: true,
            tls_mechanism_runs: true,
            mechanisms: vec!["DIGEST-MD5".into(), "SCRAM-SHA-1".into(), "PLAIN".into()],
            modes: vec![Mode::Rfc6120],
            modes_mechanism: "SCRAM-SHA-1".into(),
            tls_logins: true,
            tls_mechanism: "SCRAM-SHA-256-PLUS".into(),
            cert: TestCert::GoodP256,
        };
        let mut modes_given = false;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            let num = |v: String, name: &str| {
                v.parse::<usize>()
                    .map_err(|_| format!("{name}: not a number: {v}"))
            };
            match a.as_str() {
                "--duration" => o.duration = val(a)?,
                "--concurrency" => o.concurrency = num(val(a)?, a)?,
                "--users" => {
                    o.users = u32::try_from(num(val(a)?, a)?).map_err(|_| "--users too large")?
                }
                "--hold" => o.hold = num(val(a)?, a)?,
                "--mechanisms" => {
                    o.mechanisms = val(a)?.split(',').map(str::to_owned).collect();
                }
                "--modes" => {
                    o.modes = val(a)?
                        .split(',')
                        .map(Mode::parse)
                        .collect::<Result<_, _>>()?;
                    modes_given = true;
                }
                "--modes-mechanism" => o.modes_mechanism = val(a)?,
                "--tls-mechanism" => o.tls_mechanism = val(a)?,
                "--no-tls-logins" => o.tls_logins = false,
                "--cert" => {
                    o.cert = match val(a)?.as_str() {
                        "p256" => TestCert::GoodP256,
                        "rsa" => TestCert::Good,
                        other => return Err(format!("--cert {other}: p256 or rsa")),
                    }
                }
                "--only-tls-logins" => {
                    o.plain_runs = false;
                    o.tls_mechanism_runs = false;
                    o.hold_run = false;
                    o.modes = vec![Mode::Rfc6120];
                }
                "--only-modes" => {
                    o.plain_runs = false;
                    o.tls_mechanism_runs = false;
                    o.hold_run = false;
                    o.tls_logins = false;
                    if !modes_given {
                        o.modes = Mode::ALL.to_vec();
                    }
                }
                "--no-peers" => o.peers = false,
                "--no-tls" => o.tls = false,
                "--no-hold" => o.hold_run = false,
                "--only-hold" => {
                    o.plain_runs = false;
                    o.tls = false;
                }
                "--only-tls" => {
                    o.plain_runs = false;
                    o.hold_run = false;
                    o.tls_logins = false;
                }
                "--only-classic" => {
                    o.tls = false;
                    o.hold_run = false;
                }
                _ => {
                    return Err(format!(
                        "unknown option {a}; see xtask/src/bench_e2e/mod.rs"
                    ))
                }
            }
        }
        if o.users == 0 || o.concurrency == 0 {
            return Err("--users and --concurrency must be at least 1".into());
        }
        if !o.tls && o.modes.iter().any(|m| m.over_starttls()) {
            return Err("--modes other than rfc6120 run over STARTTLS: not with --no-tls (our server offers SASL2 on TLS streams only)".into());
        }
        Ok(o)
    }

    /// Whether the modes table is wanted.
    pub(super) fn modes_run(&self) -> bool {
        self.tls && self.modes.iter().any(|m| m.over_starttls())
    }

    /// Whether the TLS logins table is wanted.
    pub(super) fn tls_logins_run(&self) -> bool {
        self.tls && self.tls_logins
    }

    /// The WebSocket table's login protocols (none: no table).
    pub(super) fn websocket_modes(&self) -> Vec<Mode> {
        if !self.modes.contains(&Mode::WebSocket) {
            return Vec::new();
        }
        let protocols: Vec<Mode> = self
            .modes
            .iter()
            .copied()
            .filter(|m| *m != Mode::WebSocket)
            .collect();
        if protocols.is_empty() {
            vec![Mode::Rfc6120]
        } else {
            protocols
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn options() {
        let o = Opts::parse(&["--users".into(), "3".into(), "--no-tls".into()]);
        assert!(o.as_ref().is_ok_and(|o| o.users == 3 && !o.tls && o.peers));
        assert!(Opts::parse(&["--bogus".into()]).is_err());
        assert!(Opts::parse(&["--users".into(), "0".into()]).is_err());
        let o = Opts::parse(&[]).unwrap();
        assert!(!o.modes_run());
        let o = Opts::parse(&["--only-modes".into()]).unwrap();
        assert!(o.modes_run() && !o.plain_runs && !o.tls_mechanism_runs && !o.hold_run);
        assert_eq!(o.modes, Mode::ALL);
        let o = Opts::parse(&["--modes".into(), "sasl2,fast".into(), "--only-modes".into()]);
        assert_eq!(o.unwrap().modes, [Mode::Sasl2, Mode::Fast]);
        assert!(Opts::parse(&["--modes".into(), "sasl3".into()]).is_err());
        assert!(Opts::parse(&["--modes".into(), "fast".into(), "--no-tls".into()]).is_err());
        // websocket: its own table (no TLS), over the other modes' protocols.
        let o = Opts::parse(&["--modes".into(), "rfc6120,websocket".into()]).unwrap();
        assert!(!o.modes_run());
        assert_eq!(o.websocket_modes(), [Mode::Rfc6120]);
        let o = Opts::parse(&["--modes".into(), "websocket".into(), "--no-tls".into()]);
        assert_eq!(o.unwrap().websocket_modes(), [Mode::Rfc6120]);
        let o = Opts::parse(&["--modes".into(), "sasl2,websocket".into()]).unwrap();
        assert!(o.modes_run());
        assert_eq!(o.websocket_modes(), [Mode::Sasl2]);
        assert!(Opts::parse(&[]).unwrap().websocket_modes().is_empty());
        // Each table by itself.
        let o = Opts::parse(&["--only-tls-logins".into()]).unwrap();
        assert!(o.tls_logins_run() && !o.plain_runs && !o.tls_mechanism_runs && !o.hold_run);
        assert!(!o.modes_run() && o.websocket_modes().is_empty());
        let o = Opts::parse(&["--only-classic".into()]).unwrap();
        assert!(o.plain_runs && !o.tls_logins_run() && !o.hold_run && !o.modes_run());
        let o = Opts::parse(&["--only-tls".into()]).unwrap();
        assert!(o.tls_mechanism_runs && !o.plain_runs && !o.tls_logins_run());
        let o = Opts::parse(&["--only-hold".into()]).unwrap();
        assert!(o.hold_run && !o.plain_runs && !o.tls_logins_run());
        assert!(!Opts::parse(&["--only-modes".into()])
            .unwrap()
            .tls_logins_run());
    }
}
