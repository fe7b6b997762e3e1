//! `install`: the Debian packages (with chromium), the bookworm-backports peers, the Python venv,
//! @xmpp/client and converse.js, the libstrophe driver, each only when missing or changed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::backports;
use super::files::io_err;
use crate::peers::Layout;
use crate::ports::port_open;
use crate::process::{capture, run_checked, which};

/// Ports a stock package could open on install (c2s, s2s, http).
const STOCK_PORTS: [u16; 3] = [5222, 5269, 5280];
/// The peers (with GNU SASL), the libstrophe driver's toolchain, the venv's Python,
/// PostgreSQL for the tests that start their own, openssl for the test PKI, headless
/// Chromium and its WebDriver for the browser client (converse.js driven by Selenium).
const APT_PACKAGES: &[&str] = &[
    "ejabberd",
    "prosody",
    "gsasl",
    "libstrophe-dev",
    "pkg-config",
    "gcc",
    "libc6-dev",
    "python3",
    "python3-venv",
    "postgresql",
    "openssl",
    "chromium",
    "chromium-driver",
];
/// The versions `node/package.json` pins, checked after `npm install`: @xmpp/client,
/// and converse.js, whose prebuilt `dist/` the browser driver serves.
const NODE_PINS: [(&str, &str); 2] = [("@xmpp/client", "0.14.0"), ("converse.js", "14.0.0")];
/// The files of converse.js's `dist/` that the browser page loads.
const CONVERSE_DIST: [&str; 2] = ["converse.min.js", "converse.min.css"];

/// Installs whatever of the peers and drivers is missing or out of date.
pub(super) fn install(layout: &Layout) -> Result<(), String> {
    fs::create_dir_all(&layout.state).map_err(|e| io_err("create", &layout.state, e))?;
    apt()?;
    guard_stock_daemons();
    backports::install(layout)?;
    venv(layout)?;
    node(layout)?;
    build_strophe(layout)?;
    eprintln!("interop install: ok (state in {})", layout.state.display());
    Ok(())
}

/// The Debian packages not yet installed, then a check that their tools are there.
fn apt() -> Result<(), String> {
    let mut wanted: Vec<&str> = APT_PACKAGES.to_vec();
    if which("npm").is_none() || which("node").is_none() {
        // The image may ship Node.js from elsewhere; only fall back to Debian's if absent.
        wanted.extend(["nodejs", "npm"]);
    }
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        eprintln!("interop install: Debian packages already installed");
        return Ok(());
    }
    eprintln!("interop install: apt-get install {}", missing.join(" "));
    // Other sessions may be running apt at the same time: wait for the lock.
    let lock = ["-o", "DPkg::Lock::Timeout=600"];
    run_checked(
        Command::new("apt-get")
            .args(lock)
            .args(["update", "-q"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        "apt-get update",
    )?;
    run_checked(
        Command::new("apt-get")
            .args(lock)
            .args(["install", "-y", "-q"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        "apt-get install",
    )?;
    let still: Vec<&str> = missing
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if !still.is_empty() {
        return Err(format!("packages not installed: {}", still.join(" ")));
    }
    for tool in [
        "ejabberdctl",
        "prosody",
        "prosodyctl",
        "gsasl",
        "pkg-config",
        "cc",
        "chromium",
        "chromedriver",
    ] {
        if which(tool).is_none() {
            return Err(format!("{tool} not found after installing packages"));
        }
    }
    Ok(())
}

/// On a machine without a `policy-rc.d` that forbids it, installing ejabberd or prosody
/// starts the stock daemon listening on all addresses. Stop it: our peers use their own
/// ports and configs, and nothing should listen publicly.
fn guard_stock_daemons() {
    if !STOCK_PORTS.iter().any(|p| port_open(*p)) {
        return;
    }
    eprintln!("interop install: a stock XMPP daemon is listening; stopping the services");
    for svc in ["ejabberd", "prosody"] {
        let _ = Command::new("service")
            .args([svc, "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while STOCK_PORTS.iter().any(|p| port_open(*p)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(250));
    }
    for p in STOCK_PORTS {
        if port_open(p) {
            eprintln!("interop install: WARNING: something still listens on port {p}");
        }
    }
}

/// The Python clients, pinned by `requirements.txt`, in a venv rebuilt when it changes.
fn venv(layout: &Layout) -> Result<(), String> {
    let req_path = layout.src.join("requirements.txt");
    let req = fs::read_to_string(&req_path).map_err(|e| io_err("read", &req_path, e))?;
    let venv = layout.state.join("venv");
    let stamp = venv.join("interop-requirements.txt");
    let py = layout.venv_python();
    if py.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(req.as_str()) {
        eprintln!("interop install: Python venv up to date");
        return Ok(());
    }
    // Debian's python3 (with python3-venv) is the one this script installs and knows.
    let base = if Path::new("/usr/bin/python3").exists() {
        PathBuf::from("/usr/bin/python3")
    } else {
        which("python3").ok_or("python3 not found")?
    };
    eprintln!("interop install: Python venv in {}", venv.display());
    let _ = fs::remove_dir_all(&venv);
    run_checked(
        Command::new(&base).args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    )?;
    run_checked(
        Command::new(&py)
            .args(["-m", "pip", "install", "-q", "-r"])
            .arg(&req_path),
        "pip install",
    )?;
    run_checked(
        Command::new(&py).args(["-c", "import slixmpp, aioxmpp, aiosasl, pytz, selenium"]),
        "import the Python clients",
    )?;
    fs::write(&stamp, req).map_err(|e| io_err("write", &stamp, e))
}

/// @xmpp/client and converse.js, pinned by `node/package.json`, reinstalled when it changes.
fn node(layout: &Layout) -> Result<(), String> {
    let pkg_src = layout.src.join("node").join("package.json");
    let pkg = fs::read_to_string(&pkg_src).map_err(|e| io_err("read", &pkg_src, e))?;
    let dir = layout.state.join("node");
    let stamp = dir.join("interop-package.json");
    let modules = layout.node_modules();
    let present = NODE_PINS
        .iter()
        .all(|(name, _)| modules.join(name).join("package.json").exists());
    if present && fs::read_to_string(&stamp).ok().as_deref() == Some(pkg.as_str()) {
        eprintln!("interop install: node modules up to date");
        return Ok(());
    }
    eprintln!("interop install: npm install in {}", dir.display());
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, e))?;
    fs::write(dir.join("package.json"), &pkg).map_err(|e| io_err("write", &dir, e))?;
    run_checked(
        Command::new("npm")
            .args([
                "install",
                "--no-package-lock",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ])
            .current_dir(&dir),
        "npm install",
    )?;
    for (name, version) in NODE_PINS {
        let path = modules.join(name).join("package.json");
        let installed = fs::read_to_string(&path).map_err(|e| io_err("read", &path, e))?;
        if !installed.contains(&format!("\"version\": \"{version}\"")) {
            return Err(format!("{name} is not version {version}"));
        }
    }
    for file in CONVERSE_DIST {
        let path = modules.join("converse.js").join("dist").join(file);
        if !path.is_file() {
            return Err(format!("converse.js ships no {}", path.display()));
        }
    }
    fs::write(&stamp, pkg).map_err(|e| io_err("write", &stamp, e))
}

/// The libstrophe drivers (login, stream management resumption), compiled against the
/// installed libstrophe.
fn build_strophe(layout: &Layout) -> Result<(), String> {
    fs::create_dir_all(layout.state.join("bin"))
        .map_err(|e| io_err("create", &layout.state.join("bin"), e))?;
    let flags = capture(
        Command::new("pkg-config").args(["--cflags", "--libs", "libstrophe"]),
        "pkg-config libstrophe",
    )?;
    for (source, out) in [
        ("strophe_login.c", layout.strophe_bin()),
        ("strophe_sm_resume.c", layout.strophe_sm_bin()),
    ] {
        run_checked(
            Command::new("cc")
                .args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
                .arg(&out)
                .arg(layout.clients().join(source))
                .args(flags.split_whitespace()),
            &format!("compile {source}"),
        )?;
    }
    Ok(())
}

/// Whether dpkg has `pkg` fully installed.
fn dpkg_installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}", pkg])
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).starts_with("ii"))
        .unwrap_or(false)
}
