//! The interop harness's peers, as `cargo xtask interop` (which runs them) and
//! `cargo xtask bench-e2e` (which measures against them) both see them: their
//! addresses, the account, where their files live, and ejabberd's control command.
//!
//! Two generations of peers: the stock Debian 12 servers (ejabberd 23.01, Prosody 0.12.3,
//! installed with apt) for RFC 6120 SASL, and the "modern" ones (Prosody 13.0.1 and
//! ejabberd 24.12 from bookworm-backports, unpacked under the state directory, never
//! installed) for SASL2 (XEP-0388), Bind2 (XEP-0386), FAST (XEP-0484) and SSDP (XEP-0474).
//!
//! The state lives in `$XMPP_INTEROP_DIR`, default `<repo>/target/interop`, whatever
//! `CARGO_TARGET_DIR` says, so that `start` and `stop` from any shell agree.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::workspace;

/// The account on every server.
pub const USER: &str = "somenode";
/// Its password.
pub const PASSWORD: &str = "secret";
/// A second account, on the Prosody servers only, with the same password: the peer that
/// a client logged in as [`USER`] sends to (the browser test: converse.js addresses bare
/// JIDs, so its peer cannot be another resource of the same account).
pub const USER2: &str = "othernode";
/// The domain every server serves.
pub const DOMAIN: &str = "example.com";
/// ejabberd's plain c2s listener. Non-default ports throughout, so that a stock daemon
/// on 5222 can never be mistaken for ours.
pub const EJABBERD_PORT: u16 = 15222;
/// Erlang distribution port of our ejabberd node; a fixed port means no epmd.
pub const EJABBERD_DIST_PORT: u16 = 15210;
/// Our ejabberd's Erlang node name.
pub const EJABBERD_NODE: &str = "xmppinterop@localhost";
/// ejabberd's listener with `starttls_required: true` (as deployed).
pub const EJABBERD_TLS_PORT: u16 = 15223;
/// ejabberd's direct TLS listener (XEP-0368, `tls: true`).
pub const EJABBERD_DIRECT_TLS_PORT: u16 = 15224;
/// The stock prosody's port.
pub const PROSODY_PORT: u16 = 15322;
/// The second prosody, configured as deployed: TLS required, hashed storage.
pub const PROSODY_TLS_PORT: u16 = 15323;
/// The third prosody (0.12): STARTTLS offered, not required, presenting an expired
/// certificate ([`TestCert::Expired`]); no stream management.
pub const PROSODY_EXPIRED_PORT: u16 = 15324;
/// Its direct TLS port (XEP-0368), same certificate.
pub const PROSODY_EXPIRED_DIRECT_TLS_PORT: u16 = 15325;

/// Prosody 13's c2s port: STARTTLS offered, not required; plaintext logins allowed.
pub const PROSODY13_PORT: u16 = 15422;
/// Prosody 13's direct TLS port (XEP-0368, `c2s_direct_tls_ports`).
pub const PROSODY13_DIRECT_TLS_PORT: u16 = 15423;
/// Prosody 13's HTTP port: WebSocket (RFC 7395) at [`PROSODY13_WS_PATH`].
pub const PROSODY13_HTTP_PORT: u16 = 15424;
/// Prosody 13's WebSocket path.
pub const PROSODY13_WS_PATH: &str = "/xmpp-websocket";
/// A second Prosody 13: STARTTLS required, no direct TLS, a certificate for another name
/// ([`TestCert::WrongName`]), in-band registration; no stream management.
pub const PROSODY13_WRONG_NAME_PORT: u16 = 15425;
/// Its HTTP port: host-meta (XEP-0156) listing its WebSocket at [`PROSODY13_WS_PATH`].
pub const PROSODY13_WRONG_NAME_HTTP_PORT: u16 = 15426;
/// ejabberd 24.12's c2s port: STARTTLS offered, not required; SASL2 without TLS allowed.
pub const EJABBERD24_PORT: u16 = 15522;
/// ejabberd 24.12's direct TLS port (XEP-0368).
pub const EJABBERD24_DIRECT_TLS_PORT: u16 = 15523;
/// ejabberd 24.12's HTTP port: WebSocket (RFC 7395) at [`EJABBERD24_WS_PATH`].
pub const EJABBERD24_HTTP_PORT: u16 = 15524;
/// ejabberd 24.12's WebSocket path.
pub const EJABBERD24_WS_PATH: &str = "/ws";
/// ejabberd 24.12's listener with `starttls_required: true` (same VM, same certificate).
pub const EJABBERD24_TLS_PORT: u16 = 15525;

/// The name the wrong-name certificate is for (and the only one).
pub const WRONG_NAME: &str = "wrong-name.example.net";

/// The certificates of the test PKI that servers present, all signed by the test CA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestCert {
    /// For `example.com`, valid for 30 days from the start.
    Good,
    /// For `example.com`, but its validity ended two days before the start.
    Expired,
    /// Valid, but for [`WRONG_NAME`] only.
    WrongName,
    /// [`TestCert::Good`] with an ECDSA P-256 key instead of RSA-2048 (the
    /// TLS benchmarks' default: what ACME clients issue by default).
    GoodP256,
}

impl TestCert {
    /// Its file name in the PKI directory, without `.crt`/`.key`.
    pub fn stem(self) -> &'static str {
        match self {
            TestCert::Good => "example.com",
            TestCert::Expired => "expired.example.com",
            TestCert::WrongName => "wrong-name",
            TestCert::GoodP256 => "example.com-p256",
        }
    }
}

/// One prosody process: its name (state directory and pid file), config template and port.
pub struct ProsodyInstance {
    /// Its state directory under `run/` and its pid file.
    pub name: &'static str,
    /// Its config template in `interop/prosody/`.
    pub template: &'static str,
    /// Its c2s port on 127.0.0.1.
    pub port: u16,
    /// Its direct TLS port (`@DIRECT_TLS_PORT@`), if any.
    pub direct_tls_port: Option<u16>,
    /// The certificate the template takes (`@CERT_FILE@`, `@KEY_FILE@`), if any.
    pub cert: Option<TestCert>,
}

/// Stock prosody without TLS, plaintext storage (every SCRAM variant).
pub const PROSODY_PLAIN: ProsodyInstance = ProsodyInstance {
    name: "prosody",
    template: "prosody.cfg.lua",
    port: PROSODY_PORT,
    direct_tls_port: None,
    cert: None,
};

/// Prosody as deployed: STARTTLS required, hashed storage.
pub const PROSODY_TLS: ProsodyInstance = ProsodyInstance {
    name: "prosody-tls",
    template: "prosody-tls.cfg.lua",
    port: PROSODY_TLS_PORT,
    direct_tls_port: None,
    cert: Some(TestCert::Good),
};

/// Prosody 0.12 with STARTTLS optional and direct TLS, presenting an expired certificate.
pub const PROSODY_EXPIRED: ProsodyInstance = ProsodyInstance {
    name: "prosody-expired",
    template: "prosody-expired.cfg.lua",
    port: PROSODY_EXPIRED_PORT,
    direct_tls_port: Some(PROSODY_EXPIRED_DIRECT_TLS_PORT),
    cert: Some(TestCert::Expired),
};

/// Where the harness's sources and state live.
pub struct Layout {
    /// The workspace root.
    pub repo: PathBuf,
    /// `<repo>/interop`: configs, client drivers, pinned requirements.
    pub src: PathBuf,
    /// The state directory (installed clients, running servers).
    pub state: PathBuf,
}

impl Layout {
    /// The layout of this checkout, with the state directory from `$XMPP_INTEROP_DIR`.
    pub fn locate() -> Result<Self, String> {
        let repo = workspace::root();
        let state = match std::env::var_os("XMPP_INTEROP_DIR") {
            Some(d) if !d.is_empty() => workspace::absolute(Path::new(&d))?,
            _ => repo.join("target").join("interop"),
        };
        let src = repo.join("interop");
        if !src.join("clients").is_dir() {
            return Err(format!("{} is missing", src.join("clients").display()));
        }
        Ok(Layout { repo, src, state })
    }

    /// The venv's Python, which runs the Python drivers.
    pub fn venv_python(&self) -> PathBuf {
        self.state.join("venv").join("bin").join("python")
    }
    /// Where @xmpp/client is installed.
    pub fn node_modules(&self) -> PathBuf {
        self.state.join("node").join("node_modules")
    }
    /// The compiled libstrophe driver.
    pub fn strophe_bin(&self) -> PathBuf {
        self.state.join("bin").join("strophe_login")
    }
    /// The compiled libstrophe stream management resumption driver.
    pub fn strophe_sm_bin(&self) -> PathBuf {
        self.state.join("bin").join("strophe_sm_resume")
    }
    /// The running servers' state, wiped at each start.
    pub fn run_dir(&self) -> PathBuf {
        self.state.join("run")
    }
    /// The bookworm-backports peers, unpacked (`dpkg -x`), never installed.
    pub fn modern_dir(&self) -> PathBuf {
        self.state.join("modern")
    }
    /// The root Prosody 13.0.1 and prosody-modules are unpacked into.
    pub fn prosody13_root(&self) -> PathBuf {
        self.modern_dir().join("prosody13")
    }
    /// The root ejabberd 24.12 and its erlang-p1-* libraries are unpacked into.
    pub fn ejabberd24_root(&self) -> PathBuf {
        self.modern_dir().join("ejabberd24")
    }
    /// go-sendxmpp 0.14.1 (a static binary).
    pub fn go_sendxmpp_bin(&self) -> PathBuf {
        self.modern_dir()
            .join("go-sendxmpp")
            .join("usr/bin/go-sendxmpp")
    }
    /// The client driver scripts.
    pub fn clients(&self) -> PathBuf {
        self.src.join("clients")
    }

    /// The test PKI, made fresh at each start.
    pub fn pki_dir(&self) -> PathBuf {
        self.run_dir().join("pki")
    }
    /// The throwaway test CA (PEM) that signed every server certificate of the suite.
    pub fn ca_file(&self) -> PathBuf {
        self.pki_dir().join("ca.crt")
    }
    /// A certificate for `example.com` signed by the test CA (PEM).
    pub fn cert_file(&self) -> PathBuf {
        self.test_cert(TestCert::Good)
    }
    /// Its private key (PEM, PKCS#8).
    pub fn key_file(&self) -> PathBuf {
        self.test_key(TestCert::Good)
    }
    /// One of the test PKI's server certificates (PEM).
    pub fn test_cert(&self, c: TestCert) -> PathBuf {
        self.pki_dir().join(format!("{}.crt", c.stem()))
    }
    /// Its private key (PEM, PKCS#8).
    pub fn test_key(&self, c: TestCert) -> PathBuf {
        self.pki_dir().join(format!("{}.key", c.stem()))
    }
    /// A second CA that signed nothing the servers present (verification must fail).
    pub fn other_ca_file(&self) -> PathBuf {
        self.pki_dir().join("other-ca.crt")
    }

    /// The rendered config of a prosody instance.
    pub fn prosody_config(&self, p: &ProsodyInstance) -> PathBuf {
        self.run_dir().join(p.name).join("prosody.cfg.lua")
    }

    /// ejabberd's state directory when the `ejabberd` user can reach the state directory.
    pub fn ejabberd_dir(&self) -> PathBuf {
        self.run_dir().join("ejabberd")
    }
    /// ejabberd's state directory when it cannot (a checkout in a private directory):
    /// under the system temp dir, named after the state directory.
    pub fn ejabberd_fallback_dir(&self) -> PathBuf {
        std::env::temp_dir().join(format!(
            "xmpp-interop-ejabberd-{:016x}",
            fnv1a(self.state.to_string_lossy().as_bytes())
        ))
    }
}

/// `ejabberdctl` for the ejabberd whose state is in `dir`.
pub fn ejabberdctl(dir: &Path) -> Command {
    let etc = dir.join("etc");
    let mut c = Command::new("ejabberdctl");
    c.arg("--config-dir")
        .arg(&etc)
        .arg("--ctl-config")
        .arg(etc.join("ejabberdctl.cfg"))
        .arg("--config")
        .arg(etc.join("ejabberd.yml"))
        .arg("--spool")
        .arg(dir.join("db"))
        .arg("--logs")
        .arg(dir.join("log"));
    c
}

/// FNV-1a, for a stable per-checkout directory name.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
