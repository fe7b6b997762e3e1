//! Opening an SQLite store so that only its owner can read it.
//!
//! The store holds DIGEST-MD5's `H(user:realm:password)`, which logs in as
//! the user with DIGEST-MD5, and SCRAM keys, which let a reader act as the
//! server. So a directory we create is 0700, and the database is created
//! 0600 by us before SQLite opens it: SQLite gives the `-wal`, `-shm` and
//! `-journal` files it creates later the database's own mode (its
//! `findCreateFileMode`, then an `fchmod` past the umask), so those are 0600
//! too. Setting the process umask instead would race with every other
//! thread creating files (`--write-ca`, the tokio workers). A database or
//! side file that group or others can access is refused, with the `chmod`
//! that fixes it: there is no switch to allow it, as no setup needs others
//! to read password equivalents (an admin runs `xmpp user` as the owner).

use std::fs::{DirBuilder, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::StoreError;

/// The files SQLite keeps next to a database.
const SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// An open SQLite store and the files whose change means another process
/// wrote (the database and its WAL; none in memory).
pub(super) struct Opened {
    pub(super) pool: SqlitePool,
    pub(super) watch: Vec<PathBuf>,
}

/// How long opening waits for another process that holds the database
/// while it switches a new file to WAL.
const OPEN_BUSY_WAIT: Duration = Duration::from_secs(10);

/// The pool, retrying while the database is busy. Switching a new file to
/// WAL takes an exclusive lock that SQLite does not wait for (the busy
/// timeout does not apply to the journal-mode change), so two processes
/// opening a fresh store at once saw "database is locked" about once in
/// twenty tries.
async fn connect_retrying_busy(opts: SqliteConnectOptions) -> Result<SqlitePool, StoreError> {
    let deadline = std::time::Instant::now() + OPEN_BUSY_WAIT;
    loop {
        let attempt = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.clone())
            .await;
        match attempt {
            Err(sqlx::Error::Database(e))
                if is_busy(e.code().as_deref()) && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return Ok(other?),
        }
    }
}

/// SQLITE_BUSY and its extended codes (recovery, snapshot, timeout).
fn is_busy(code: Option<&str>) -> bool {
    matches!(code, Some("5" | "261" | "517" | "773"))
}

/// Opens (creating as needed, private to this user) the SQLite store at
/// `location`: a file path or a `sqlite:` URL.
pub(super) async fn open(location: &str) -> Result<Opened, StoreError> {
    let bad = |e: &dyn std::fmt::Display| StoreError::Location(location.to_owned(), e.to_string());
    let opts = if location.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(location).map_err(|e| bad(&e))?
    } else {
        SqliteConnectOptions::new().filename(location)
    };
    let in_memory = location.starts_with("sqlite:") && is_in_memory(location);
    let db = opts.get_filename().to_path_buf();
    if !in_memory {
        create_private(&db).map_err(|e| bad(&e))?;
        check_private(&db)?;
    }
    // WAL: readers (a running server) never block on a writer (`xmpp user`).
    let opts = opts
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let pool = connect_retrying_busy(opts).await?;
    if in_memory {
        return Ok(Opened {
            pool,
            watch: Vec::new(),
        });
    }
    // SQLite made the WAL and shared-memory files by now: they must have
    // inherited the database's mode.
    check_private(&db)?;
    Ok(Opened {
        pool,
        watch: vec![db.clone(), side_file(&db, "-wal")],
    })
}

/// `sqlite::memory:` or `mode=memory`, as sqlx reads a URL (its own
/// `to_url_lossy` panics on some file names, so it is not asked).
fn is_in_memory(url: &str) -> bool {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    path.ends_with(":memory:") || query.split('&').any(|p| p == "mode=memory")
}

fn side_file(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Creates the missing directories (0700) and the empty database file
/// (0600; SQLite takes an empty file for an empty database).
fn create_private(db: &Path) -> std::io::Result<()> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(db)
    {
        Ok(_) => Ok(()),
        // It exists (perhaps another process just made it): checked next.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Refuses the store if the database or a side file is open to group or
/// others.
fn check_private(db: &Path) -> Result<(), StoreError> {
    let mut exposed = Vec::new();
    let mut mode = 0;
    let user = rustix::process::geteuid().as_raw();
    for path in std::iter::once(db.to_path_buf()).chain(SIDE_FILES.map(|s| side_file(db, s))) {
        if let Ok(meta) = std::fs::metadata(&path) {
            if meta.uid() != user {
                return Err(StoreError::NotOwned {
                    path,
                    owner: meta.uid(),
                    user,
                });
            }
            let m = meta.permissions().mode() & 0o777;
            if m & 0o077 != 0 {
                mode = m;
                exposed.push(path);
            }
        }
    }
    match exposed.first() {
        None => Ok(()),
        Some(path) => Err(StoreError::Exposed {
            path: path.clone(),
            mode,
            fix: format!(
                "chmod 600 {}",
                exposed
                    .iter()
                    .map(|p| shell_quote(&p.to_string_lossy()))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }),
    }
}

/// `s` as one shell word, for a command the user can paste.
fn shell_quote(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn a_new_store_is_private_to_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("new/data/users.sqlite3");
        let opened = open(db.to_str().unwrap()).await.unwrap();
        // Make SQLite write, so the WAL and shared memory exist.
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&opened.pool)
            .await
            .unwrap();
        assert_eq!(mode(&dir.path().join("new")), 0o700);
        assert_eq!(mode(&dir.path().join("new/data")), 0o700);
        for p in [db.clone(), side_file(&db, "-wal"), side_file(&db, "-shm")] {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }

    #[tokio::test]
    async fn a_store_others_can_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("it's.db");
        drop(open(db.to_str().unwrap()).await.unwrap());
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = open(db.to_str().unwrap()).await.err().unwrap();
        let msg = err.to_string();
        assert!(
            matches!(err, StoreError::Exposed { mode: 0o644, .. }),
            "{msg}"
        );
        assert!(msg.contains(r"chmod 600 '"), "{msg}");
        assert!(msg.contains(r"it'\''s.db"), "{msg}");
        // The same through a sqlite: URL, and for a side file alone.
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
        let wal = side_file(&db, "-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o660)).unwrap();
        let url = format!("sqlite://{}", db.display());
        assert!(matches!(
            open(&url).await,
            Err(StoreError::Exposed { mode: 0o660, .. })
        ));
    }

    /// Review of issue #12: a private mode is not enough when the file is
    /// someone else's (made in advance in a shared directory).
    #[tokio::test]
    async fn a_store_file_owned_by_another_user_is_refused() {
        if rustix::process::geteuid().as_raw() != 0 {
            return; // Only root can give a file away.
        }
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("users.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&db, Some(65534), Some(65534)).unwrap();
        let err = open(db.to_str().unwrap()).await.err().unwrap();
        assert!(
            matches!(err, StoreError::NotOwned { owner: 65534, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn in_memory_stores_have_no_files() {
        for url in ["sqlite::memory:", "sqlite://?mode=memory"] {
            let opened = open(url).await.unwrap();
            assert!(opened.watch.is_empty(), "{url}");
        }
    }
}
