//! `xmpp login --fast-token-file`: a FAST token (XEP-0484) kept between
//! runs, so that later logins need no password.
//!
//! The file is text: the first line is `xmpp-fast-token 1`, then one
//! `key=value` per line (`#` lines are comments, unknown keys are ignored):
//!
//! ```text
//! xmpp-fast-token 1
//! jid=somenode@example.com
//! user-agent-id=0e0f6d4a-8b7c-4d2e-9f10-1a2b3c4d5e6f
//! mechanism=HT-SHA-256-EXPR
//! expires=2026-12-18T22:59:24Z
//! token=...
//! ```
//!
//! `jid` is the bare JID the token was issued to, `user-agent-id` the SASL2
//! user agent it is bound to (the server looks tokens up by both),
//! `mechanism` the `HT-*` mechanism it was issued for, `expires` its expiry
//! (RFC 3339, UTC) and `token` the secret itself, the HMAC key.
//!
//! Until it expires the token logs in as the user, like a password: the file
//! is written with mode 0600 (missing directories are made 0700) to a
//! temporary file in the same directory, synced, and renamed over the old
//! one (then the directory is synced), so a crash leaves the old token or
//! the new one, never half of one. It is read only if it belongs to this
//! user and neither group nor others can access it, as the SQLite account
//! store is (`store::sqlite`). A file that does not start with the first
//! line above is refused rather than overwritten: a mistyped path must not
//! destroy someone's key.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

use xmpp_sasl::{FastToken, Mechanism};
use zeroize::Zeroizing;

use crate::exit::{Code, Failure};

/// The first line of every token file.
const MAGIC: &str = "xmpp-fast-token 1";
/// No token file is larger.
const MAX_BYTES: u64 = 64 * 1024;
/// The longest token stored (the server's are 43 characters).
const MAX_TOKEN: usize = 1024;

/// A token as stored, with whom it belongs to.
pub struct Stored {
    /// The bare JID it was issued to.
    pub jid: String,
    /// The user-agent id it is bound to.
    pub user_agent_id: String,
    /// The token (its secret, mechanism and expiry).
    pub token: FastToken,
}

/// What a token file holds.
pub enum Loaded {
    /// No file, or an empty one.
    Missing,
    /// A token file whose token cannot be used: why.
    Unusable(String),
    /// A token.
    Found(Stored),
}

impl Stored {
    /// Whether the token can log `jid` in as user agent `user_agent_id` at
    /// `now`; `Err` says why not.
    pub fn check(&self, jid: &str, user_agent_id: &str, now: SystemTime) -> Result<(), String> {
        if !self.jid.eq_ignore_ascii_case(jid) {
            return Err(format!("it was issued to {}, not {jid}", self.jid));
        }
        if self.user_agent_id != user_agent_id {
            return Err(format!(
                "it is bound to user agent {}, not {user_agent_id}",
                self.user_agent_id
            ));
        }
        if self.token.expires <= now {
            return Err(format!(
                "it expired at {}",
                humantime::format_rfc3339_seconds(self.token.expires)
            ));
        }
        Ok(())
    }
}

/// Reads the token file at `path`, refusing one that others could read or
/// that is not ours.
pub fn load(path: &Path) -> Result<Loaded, Failure> {
    let shown = path.display();
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Loaded::Missing),
        Err(e) => {
            return Err(Failure::new(
                Code::Other,
                format!("--fast-token-file {shown}: {e}"),
            ))
        }
    };
    // The checks are on the file we opened, not on whatever the name points
    // to by then.
    let meta = file
        .metadata()
        .map_err(|e| Failure::new(Code::Other, format!("--fast-token-file {shown}: {e}")))?;
    if !meta.is_file() {
        return Err(Failure::usage(format!(
            "--fast-token-file {shown}: not a regular file"
        )));
    }
    let user = rustix::process::geteuid().as_raw();
    if meta.uid() != user {
        return Err(Failure::new(
            Code::Other,
            format!(
                "refusing to read {shown}: it belongs to uid {}, not to this user (uid {user}), \
                 and that user can read the FAST token it holds; fix: remove it, or run as its owner",
                meta.uid()
            ),
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Failure::new(
            Code::Other,
            format!(
                "refusing to read {shown}: its mode {mode:04o} lets other users read or change it, \
                 and the FAST token it holds logs in as the user until it expires; fix: chmod 600 {shown} \
                 (or remove it if others may have read it)"
            ),
        ));
    }
    if meta.len() > MAX_BYTES {
        return Err(Failure::usage(format!(
            "--fast-token-file {shown}: too large for a token file ({} bytes)",
            meta.len()
        )));
    }
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text)
        .map_err(|e| Failure::new(Code::Other, format!("--fast-token-file {shown}: {e}")))?;
    if text.trim().is_empty() {
        return Ok(Loaded::Missing);
    }
    parse(&text).map_err(|()| {
        Failure::usage(format!(
            "--fast-token-file {shown}: not a token file written by `xmpp login` (its first \
             line is not {MAGIC:?}); refusing to use or overwrite it"
        ))
    })
}

/// Parses a token file; `Err` when it is not one at all.
fn parse(text: &str) -> Result<Loaded, ()> {
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some(MAGIC) {
        return Err(());
    }
    let (mut jid, mut ua, mut mechanism, mut expires, mut token) = (None, None, None, None, None);
    for line in lines {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Ok(Loaded::Unusable(format!(
                "a line is not key=value: {line:?}"
            )));
        };
        let slot = match key.trim() {
            "jid" => &mut jid,
            "user-agent-id" => &mut ua,
            "mechanism" => &mut mechanism,
            "expires" => &mut expires,
            "token" => &mut token,
            _ => continue,
        };
        if slot.is_some() {
            return Ok(Loaded::Unusable(format!("{} is given twice", key.trim())));
        }
        *slot = Some(value.trim());
    }
    let missing = |k: &str| Ok(Loaded::Unusable(format!("it has no {k}")));
    let Some(jid) = jid else {
        return missing("jid");
    };
    let Some(ua) = ua else {
        return missing("user-agent-id");
    };
    let Some(mechanism) = mechanism else {
        return missing("mechanism");
    };
    let Some(expires) = expires else {
        return missing("expires");
    };
    let Some(secret) = token.filter(|t| !t.is_empty()) else {
        return missing("token");
    };
    let Some(mechanism) = Mechanism::from_name(mechanism).filter(|m| m.is_fast()) else {
        return Ok(Loaded::Unusable(format!(
            "{mechanism:?} is not a FAST token mechanism"
        )));
    };
    let Ok(expires) = humantime::parse_rfc3339_weak(expires) else {
        return Ok(Loaded::Unusable(format!(
            "its expiry {expires:?} is not an RFC 3339 time"
        )));
    };
    let Ok(user_agent_id) = crate::cli::uuid(ua) else {
        return Ok(Loaded::Unusable(format!(
            "its user-agent-id {ua:?} is not a UUID"
        )));
    };
    Ok(Loaded::Found(Stored {
        jid: jid.to_owned(),
        user_agent_id,
        token: FastToken {
            secret: Zeroizing::new(secret.to_owned()),
            mechanism,
            expires,
            last_count: None,
            in_use: false,
        },
    }))
}

/// The file's text for `stored`; `Err` for a token this format cannot
/// carry (one that is not printable ASCII could forge other lines).
fn render(stored: &Stored) -> Result<Zeroizing<String>, String> {
    let secret = stored.token.secret.as_str();
    if secret.is_empty()
        || secret.len() > MAX_TOKEN
        || !secret.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err("the server's token is not printable ASCII of a sane length".to_owned());
    }
    if !stored.jid.chars().all(|c| !c.is_control()) {
        return Err("the JID has control characters".to_owned());
    }
    let mut text = Zeroizing::new(String::new());
    text.push_str(MAGIC);
    text.push('\n');
    text.push_str(
        "# A FAST token (XEP-0484) written by `xmpp login --fast-token-file`. It logs in as\n\
         # the user until it expires, like a password: keep this file private (mode 0600).\n",
    );
    text.push_str(&format!("jid={}\n", stored.jid));
    text.push_str(&format!("user-agent-id={}\n", stored.user_agent_id));
    text.push_str(&format!("mechanism={}\n", stored.token.mechanism));
    text.push_str(&format!(
        "expires={}\n",
        humantime::format_rfc3339_seconds(stored.token.expires)
    ));
    text.push_str("token=");
    text.push_str(secret);
    text.push('\n');
    Ok(text)
}

/// Writes `stored` to `path` atomically, private to this user.
pub fn save(path: &Path, stored: &Stored) -> Result<(), String> {
    let text = render(stored)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| "the path has no file name".to_owned())?;
    // The counter keeps two saves of one process apart even when they read
    // the same nanoseconds (a coarse clock); `create_new` refuses a clash.
    static SAVES: AtomicU32 = AtomicU32::new(0);
    let n = SAVES.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.{nanos}.{n}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = (|| -> std::io::Result<()> {
        if !dir.exists() {
            DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable once the directory is synced.
        File::open(&dir)?.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.to_string());
    }
    Ok(())
}

/// Removes the token file; `Ok` if it is gone.
pub fn remove(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stored(secret: &str) -> Stored {
        Stored {
            jid: "somenode@example.com".to_owned(),
            user_agent_id: "0e0f6d4a-8b7c-4d2e-9f10-1a2b3c4d5e6f".to_owned(),
            token: FastToken {
                secret: Zeroizing::new(secret.to_owned()),
                mechanism: Mechanism::HtSha256Expr,
                expires: SystemTime::UNIX_EPOCH + Duration::from_secs(1_798_675_200),
                last_count: None,
                in_use: false,
            },
        }
    }

    #[test]
    fn round_trip_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        assert!(matches!(load(&path).unwrap(), Loaded::Missing));
        let nested = dir.path().join("a/b/token");
        save(&nested, &stored("x")).unwrap();
        let mode = std::fs::metadata(dir.path().join("a"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::remove_dir_all(dir.path().join("a")).unwrap();
        save(&path, &stored("s3cr3t-Token_x")).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("xmpp-fast-token 1\n"), "{text}");
        assert!(text.contains("expires=2026-12-31T00:00:00Z\n"), "{text}");
        assert!(text.contains("mechanism=HT-SHA-256-EXPR\n"), "{text}");
        let Loaded::Found(s) = load(&path).unwrap() else {
            panic!("not found")
        };
        assert_eq!(*s.token.secret, "s3cr3t-Token_x");
        assert_eq!(s.token.mechanism, Mechanism::HtSha256Expr);
        let before = SystemTime::UNIX_EPOCH + Duration::from_secs(1_798_675_199);
        let ua = "0e0f6d4a-8b7c-4d2e-9f10-1a2b3c4d5e6f";
        assert!(s.check("somenode@example.com", ua, before).is_ok());
        assert!(s.check("other@example.com", ua, before).is_err());
        assert!(s.check("somenode@example.com", "x", before).is_err());
        let after = SystemTime::UNIX_EPOCH + Duration::from_secs(1_798_675_200);
        assert!(s
            .check("somenode@example.com", ua, after)
            .unwrap_err()
            .contains("expired"));
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        remove(&path).unwrap();
        remove(&path).unwrap();
    }

    #[test]
    fn exposed_or_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        save(&path, &stored("abc")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = load(&path).err().unwrap();
        assert!(e.message.contains("mode 0640"), "{}", e.message);
        assert!(e.message.contains("chmod 600"), "{}", e.message);
        // Not a token file: neither used nor overwritten.
        std::fs::write(&path, "-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = load(&path).err().unwrap();
        assert!(e.message.contains("not a token file"), "{}", e.message);
    }

    #[test]
    fn unusable_contents() {
        for (text, why) in [
            ("xmpp-fast-token 1\njid=a@b\n", "no user-agent-id"),
            (
                "xmpp-fast-token 1\njid=a@b\nuser-agent-id=0e0f6d4a-8b7c-4d2e-9f10-1a2b3c4d5e6f\n\
                 mechanism=SCRAM-SHA-1\nexpires=2026-12-31T00:00:00Z\ntoken=x\n",
                "not a FAST token mechanism",
            ),
            ("xmpp-fast-token 1\njid=a@b\njid=c@d\n", "twice"),
        ] {
            match parse(text) {
                Ok(Loaded::Unusable(w)) => assert!(w.contains(why), "{w}"),
                _ => panic!("{text:?} should be unusable"),
            }
        }
        assert!(parse("hello\n").is_err());
    }

    #[test]
    fn tokens_that_could_forge_lines_are_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        assert!(save(&path, &stored("abc\njid=evil@example.com")).is_err());
        assert!(save(&path, &stored("a b")).is_err());
        assert!(!path.exists());
    }
}
