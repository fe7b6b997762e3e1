//! The modern peers from Debian bookworm-backports: Prosody 13.0.1 (+ prosody-modules),
//! ejabberd 24.12 (+ the erlang-p1-* libraries it needs) and go-sendxmpp 0.14.1.
//!
//! They are fetched with `apt-get download` against a private sources list, lists and
//! cache directory (nothing under `/etc/apt` or `/var/cache/apt` is touched, nothing is
//! installed) and unpacked with `dpkg -x` under [`Layout::modern_dir`], beside the stock
//! Debian 12 servers, which keep working. At run time they use the stock packages'
//! dependencies (Lua 5.4 and its modules from `prosody`, Erlang/OTP 25 from `ejabberd`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::files::io_err;
use crate::peers::Layout;
use crate::process::{capture, run_checked, which};

/// Where each package goes, as `(root, package, version)`: `root` is a directory under
/// [`Layout::modern_dir`]. Exact versions: the peers' behaviour (and its quirks, which
/// interop/README.md lists) is pinned with them.
const PACKAGES: &[(&str, &str, &str)] = &[
    ("prosody13", "prosody", "13.0.1-1~bpo12+1"),
    (
        "prosody13",
        "prosody-modules",
        "0.0~hg20250402.f315edc39f3d+dfsg-1~bpo12+1",
    ),
    ("ejabberd24", "ejabberd", "24.12-3~bpo12+1"),
    ("ejabberd24", "erlang-p1-xmpp", "1.9.4-1~bpo12+1"),
    ("ejabberd24", "erlang-p1-xml", "1.1.55-1~bpo12+1"),
    ("ejabberd24", "erlang-p1-tls", "1.1.22-1~bpo12+1"),
    ("ejabberd24", "erlang-p1-utils", "1.0.26-2~bpo12+1"),
    ("ejabberd24", "erlang-p1-yaml", "1.0.37-2~bpo12+1"),
    ("ejabberd24", "erlang-p1-yconf", "1.0.17-1~bpo12+1"),
    ("ejabberd24", "erlang-p1-acme", "1.0.25-1~bpo12+1"),
    ("ejabberd24", "erlang-p1-cache-tab", "1.0.31-2~bpo12+1"),
    ("ejabberd24", "erlang-p1-eimp", "1.0.23-4~bpo12+1"),
    ("ejabberd24", "erlang-p1-mqtree", "1.0.17-2~bpo12+1"),
    ("ejabberd24", "erlang-p1-pkix", "1.0.10-2~bpo12+1"),
    ("ejabberd24", "erlang-p1-stringprep", "1.0.30-2~bpo12+1"),
    ("ejabberd24", "erlang-p1-stun", "1.2.15-1~bpo12+1"),
    ("ejabberd24", "erlang-p1-zlib", "1.0.13-2~bpo12+1"),
    ("ejabberd24", "erlang-jose", "1.11.10-1~bpo12+1"),
    ("go-sendxmpp", "go-sendxmpp", "0.14.1-1~bpo12+1"),
];

/// The Prosody launchers' compiled-in paths (Debian's), pointed at the unpacked tree.
const PROSODY_LAUNCHERS: [&str; 2] = ["usr/bin/prosody", "usr/bin/prosodyctl"];

/// Files whose presence means an unpack finished (with the stamp).
fn landmarks(layout: &Layout) -> [PathBuf; 4] {
    [
        layout.prosody13_root().join("usr/bin/prosody"),
        layout
            .prosody13_root()
            .join("usr/lib/prosody/modules/mod_sasl2/mod_sasl2.lua"),
        ejabberd24_ebin(layout).join("ejabberd.beam"),
        layout.go_sendxmpp_bin(),
    ]
}

/// ejabberd 24.12's own code (`ejabberd-24.12` is a symlink Debian ships).
fn ejabberd24_ebin(layout: &Layout) -> PathBuf {
    layout
        .ejabberd24_root()
        .join("usr/lib/x86_64-linux-gnu/ejabberd-24.12/ebin")
}

/// `ERL_LIBS` for ejabberd 24.12: its libraries come before OTP's own directory, so the
/// 1.9.4 `xmpp` (and the other p1 libraries) win over the stock 23.01 ones in
/// `/usr/lib/erlang/lib`; the stock ejabberd 23.01 itself (in `/usr/lib/x86_64-linux-gnu`)
/// is not on the path at all.
pub(crate) fn ejabberd24_erl_libs(layout: &Layout) -> String {
    let root = layout.ejabberd24_root();
    format!(
        "{}:{}",
        root.join("usr/lib/erlang/lib").display(),
        root.join("usr/lib/x86_64-linux-gnu").display()
    )
}

/// The stamp's content: what is unpacked.
fn manifest() -> String {
    PACKAGES
        .iter()
        .map(|(root, pkg, ver)| format!("{root} {pkg}={ver}\n"))
        .collect()
}

/// Downloads and unpacks the pinned packages unless the same set is already unpacked.
pub(super) fn install(layout: &Layout) -> Result<(), String> {
    let dir = layout.modern_dir();
    let stamp = dir.join("interop-backports.txt");
    let want = manifest();
    if fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str())
        && landmarks(layout).iter().all(|p| p.exists())
    {
        eprintln!("interop install: bookworm-backports peers up to date");
        return Ok(());
    }
    for tool in ["lua5.4", "erl", "dpkg", "apt-get"] {
        if which(tool).is_none() {
            return Err(format!(
                "{tool} not found: the backports peers run on the stock packages' dependencies"
            ));
        }
    }
    eprintln!(
        "interop install: Prosody 13, ejabberd 24.12, go-sendxmpp from bookworm-backports into {}",
        dir.display()
    );
    let _ = fs::remove_dir_all(&dir);
    let apt_dir = dir.join("apt");
    let debs = dir.join("debs");
    for d in [
        apt_dir.join("lists/partial"),
        apt_dir.join("cache/archives/partial"),
        debs.clone(),
    ] {
        fs::create_dir_all(&d).map_err(|e| io_err("create", &d, e))?;
    }
    let sources = apt_dir.join("sources.list");
    fs::write(&sources, sources_list()?).map_err(|e| io_err("write", &sources, e))?;
    let apt = |sub: &str| {
        let mut c = Command::new("apt-get");
        c.arg("-q")
            .arg("-o")
            .arg(format!("Dir::Etc::sourcelist={}", sources.display()))
            .args(["-o", "Dir::Etc::sourceparts=-"])
            .arg("-o")
            .arg(format!(
                "Dir::State::Lists={}",
                apt_dir.join("lists").display()
            ))
            .arg("-o")
            .arg(format!("Dir::Cache={}", apt_dir.join("cache").display()))
            // The downloads land in a root-owned directory the `_apt` sandbox user
            // cannot write.
            .args(["-o", "APT::Sandbox::User=root"])
            .arg(sub)
            .current_dir(&debs)
            .env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run_checked(
        apt("update").arg("-qq"),
        "apt-get update (bookworm-backports)",
    )?;
    run_checked(
        apt("download").args(PACKAGES.iter().map(|(_, p, v)| format!("{p}={v}"))),
        "apt-get download (bookworm-backports)",
    )?;
    for (root, pkg, ver) in PACKAGES {
        let deb = find_deb(&debs, pkg, ver)?;
        let to = dir.join(root);
        fs::create_dir_all(&to).map_err(|e| io_err("create", &to, e))?;
        run_checked(
            Command::new("dpkg").arg("-x").arg(&deb).arg(&to),
            &format!("dpkg -x {}", deb.display()),
        )?;
    }
    point_prosody_at(&layout.prosody13_root())?;
    check_versions(layout)?;
    for d in [&apt_dir, &debs] {
        let _ = fs::remove_dir_all(d);
    }
    fs::write(&stamp, want).map_err(|e| io_err("write", &stamp, e))
}

/// One line for bookworm-backports, on the machine's own Debian mirror (from its deb822
/// sources, else its sources.list, else deb.debian.org), signed by the Debian archive key.
fn sources_list() -> Result<String, String> {
    let release = fs::read_to_string("/etc/os-release").unwrap_or_default();
    if !release.lines().any(|l| l == "VERSION_CODENAME=bookworm") {
        return Err(
            "the modern peers come from bookworm-backports: this must be Debian 12 (bookworm)"
                .into(),
        );
    }
    let mirror = fs::read_to_string("/etc/apt/sources.list.d/debian.sources")
        .ok()
        .and_then(|s| {
            s.lines()
                .filter_map(|l| l.strip_prefix("URIs:"))
                .flat_map(str::split_whitespace)
                .find(|u| !u.contains("security"))
                .map(str::to_owned)
        })
        .or_else(|| {
            fs::read_to_string("/etc/apt/sources.list")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .map(str::split_whitespace)
                        .filter_map(|mut w| (w.next() == Some("deb")).then(|| w.next()).flatten())
                        .find(|u| u.starts_with("http") && !u.contains("security"))
                        .map(str::to_owned)
                })
        })
        .unwrap_or_else(|| "http://deb.debian.org/debian".to_owned());
    let keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
    let signed = if Path::new(keyring).is_file() {
        format!(" [signed-by={keyring}]")
    } else {
        String::new()
    };
    Ok(format!("deb{signed} {mirror} bookworm-backports main\n"))
}

/// The downloaded `.deb` of `pkg` at `ver` (apt-get escapes `:` in file names as `%3a`).
fn find_deb(debs: &Path, pkg: &str, ver: &str) -> Result<PathBuf, String> {
    let prefix = format!("{pkg}_{}_", ver.replace(':', "%3a"));
    fs::read_dir(debs)
        .map_err(|e| io_err("read", debs, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
        })
        .ok_or_else(|| format!("apt-get download left no {prefix}*.deb"))
}

/// Debian's launchers have `/usr/lib/prosody` etc. compiled in: point them at `root`.
fn point_prosody_at(root: &Path) -> Result<(), String> {
    let lib = root.join("usr/lib/prosody");
    let subst = [
        (
            "CFG_SOURCEDIR='/usr/lib/prosody';",
            format!("CFG_SOURCEDIR='{}';", lib.display()),
        ),
        (
            "CFG_PLUGINDIR='/usr/lib/prosody/modules/';",
            format!("CFG_PLUGINDIR='{}/';", lib.join("modules").display()),
        ),
        (
            "CFG_CONFIGDIR='/etc/prosody';",
            format!("CFG_CONFIGDIR='{}';", root.join("etc/prosody").display()),
        ),
        (
            "CFG_DATADIR='/var/lib/prosody';",
            format!("CFG_DATADIR='{}';", root.join("data").display()),
        ),
    ];
    for f in PROSODY_LAUNCHERS {
        let path = root.join(f);
        let mut text = fs::read_to_string(&path).map_err(|e| io_err("read", &path, e))?;
        for (from, to) in &subst {
            if !text.contains(from) {
                return Err(format!("{}: no line {from}", path.display()));
            }
            text = text.replace(from, to);
        }
        fs::write(&path, text).map_err(|e| io_err("write", &path, e))?;
    }
    Ok(())
}

/// What was unpacked is what was pinned, and it runs here.
fn check_versions(layout: &Layout) -> Result<(), String> {
    let version_file = layout
        .prosody13_root()
        .join("usr/lib/prosody/prosody.version");
    let prosody =
        fs::read_to_string(&version_file).map_err(|e| io_err("read", &version_file, e))?;
    if prosody.trim() != "13.0.1" {
        return Err(format!(
            "unpacked Prosody is {:?}, not 13.0.1",
            prosody.trim()
        ));
    }
    let go = capture(
        Command::new(layout.go_sendxmpp_bin()).arg("--version"),
        "go-sendxmpp --version",
    )?;
    if !go.contains("0.14.1") {
        return Err(format!("go-sendxmpp --version says {:?}", go.trim()));
    }
    if !ejabberd24_ebin(layout).join("mod_auth_fast.beam").is_file() {
        return Err("the unpacked ejabberd has no mod_auth_fast".into());
    }
    Ok(())
}
