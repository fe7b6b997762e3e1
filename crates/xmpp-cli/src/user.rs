//! `xmpp user ...`: account management.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use jid::{DomainPart, NodePart};
use xmpp_sasl::StoredCredentials;

use crate::cli::{BulkAddArgs, StoreArg, UserAddArgs, UserCommand, UserJidArgs, UserListArgs};
use crate::exit::{CmdResult, Code, Failure};
use crate::password;
use crate::store::{self, SqlStore};

/// Opens the store named by `--store` or `--store-file` (or the default
/// one). Its location appears in messages with every password hidden.
pub async fn open_store(arg: &StoreArg) -> Result<SqlStore, Failure> {
    let location = store_location(arg)?;
    let store = SqlStore::open(&location).await.map_err(|e| match e {
        // sqlx's errors do not say which database.
        store::StoreError::Db(_) => Failure::new(
            Code::Other,
            format!("cannot open store {}: {e}", store::redact_url(&location)),
        ),
        e => e.into(),
    })?;
    tracing::debug!(store = store.location(), "store opened");
    Ok(store)
}

/// The store's location: `--store`, the first line of `--store-file`, or
/// the default file.
fn store_location(arg: &StoreArg) -> Result<String, Failure> {
    if let Some(path) = &arg.store_file {
        return read_store_file(path);
    }
    match &arg.store {
        Some(s) => {
            let from_env = std::env::var("XMPP_STORE").is_ok_and(|v| v == *s);
            if !from_env && store::carries_secret(s) {
                tracing::warn!(
                    "the --store URL carries a password, which every local user can read in the \
                     process list: pass it in XMPP_STORE, in a file named by --store-file, or \
                     in PGPASSWORD or ~/.pgpass"
                );
            }
            Ok(s.clone())
        }
        None => Ok(store::default_location()
            .ok_or_else(|| Failure::usage("no platform data directory here: pass --store"))?
            .to_string_lossy()
            .into_owned()),
    }
}

/// The first line of a `--store-file`.
fn read_store_file(path: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("--store-file {}: {e}", path.display())))?;
    let location = text.lines().next().unwrap_or("").trim();
    if location.is_empty() {
        return Err(Failure::usage(format!(
            "--store-file {}: the first line is empty (it should hold the store's path or URL)",
            path.display()
        )));
    }
    let mode = std::fs::metadata(path).map_or(0, |m| m.permissions().mode());
    if mode & 0o077 != 0 && store::carries_secret(location) {
        tracing::warn!(
            "--store-file {} holds a password and other users can read it (mode {:04o}): \
             chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    Ok(location.to_owned())
}

/// `user@domain` -> (localpart, domain), both prepared (RFC 7622).
pub fn split_jid(jid: &str) -> Result<(NodePart, DomainPart), Failure> {
    let parsed =
        jid::BareJid::new(jid).map_err(|e| Failure::usage(format!("invalid JID {jid:?}: {e}")))?;
    let node = parsed.node().ok_or_else(|| {
        Failure::usage(format!(
            "invalid JID {jid:?}: an account needs a localpart (user@domain)"
        ))
    })?;
    Ok((node.to_owned(), parsed.domain().to_owned()))
}

fn realms<'a>(given: &'a [String], domain: &'a str) -> Vec<&'a str> {
    if given.is_empty() {
        vec![domain]
    } else {
        given.iter().map(String::as_str).collect()
    }
}

/// Derives in a blocking thread: PBKDF2 is deliberately slow.
async fn derive(
    username: String,
    password: Arc<zeroize::Zeroizing<String>>,
    realms: Vec<String>,
) -> StoredCredentials {
    let task = tokio::task::spawn_blocking(move || {
        let r: Vec<&str> = realms.iter().map(String::as_str).collect();
        StoredCredentials::derive(&username, &password, &r)
    });
    match task.await {
        Ok(c) => c,
        // Deriving does not panic; if it ever did, surface it.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Runs a `user` subcommand.
pub async fn run(cmd: UserCommand) -> CmdResult {
    match cmd {
        UserCommand::Add(a) => add_or_passwd(a, true).await,
        UserCommand::Passwd(a) => add_or_passwd(a, false).await,
        UserCommand::Remove(a) => remove(a).await,
        UserCommand::List(a) => list(a).await,
        UserCommand::Disable(a) => set_disabled(a, true).await,
        UserCommand::Enable(a) => set_disabled(a, false).await,
        UserCommand::BulkAdd(a) => bulk_add(a).await,
    }
}

async fn add_or_passwd(a: UserAddArgs, create: bool) -> CmdResult {
    let (user, domain) = split_jid(&a.jid)?;
    let store = open_store(&a.store).await?;
    let password = password::read(
        a.password_stdin,
        &format!("Password for {user}@{domain}: "),
        true,
    )?;
    let realms: Vec<String> = realms(&a.realm, &domain)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let creds = derive(user.to_string(), Arc::new(password), realms).await;
    if create {
        store.add(&domain, &user, &creds).await?;
        println!("added {user}@{domain}");
    } else {
        store.set_credentials(&domain, &user, &creds).await?;
        println!("password changed for {user}@{domain}");
    }
    Ok(())
}

async fn remove(a: UserJidArgs) -> CmdResult {
    let (user, domain) = split_jid(&a.jid)?;
    let store = open_store(&a.store).await?;
    if !store.remove(&domain, &user).await? {
        return Err(store::StoreError::NotFound(format!("{user}@{domain}")).into());
    }
    println!("removed {user}@{domain}");
    Ok(())
}

async fn set_disabled(a: UserJidArgs, disabled: bool) -> CmdResult {
    let (user, domain) = split_jid(&a.jid)?;
    let store = open_store(&a.store).await?;
    if !store.set_disabled(&domain, &user, disabled).await? {
        return Err(store::StoreError::NotFound(format!("{user}@{domain}")).into());
    }
    println!(
        "{} {user}@{domain}",
        if disabled { "disabled" } else { "enabled" }
    );
    Ok(())
}

async fn list(a: UserListArgs) -> CmdResult {
    let store = open_store(&a.store).await?;
    let accounts = store.list(a.domain.as_deref()).await?;
    if a.json {
        let out = serde_json::to_string_pretty(&accounts)
            .map_err(|e| Failure::new(crate::exit::Code::Other, e))?;
        println!("{out}");
        return Ok(());
    }
    for acc in &accounts {
        let mut line = format!("{}@{}", acc.username, acc.domain);
        if acc.disabled {
            line.push_str(" (disabled)");
        }
        if acc.realms.iter().any(|r| *r != acc.domain) {
            line.push_str(&format!(" realms={}", acc.realms.join(",")));
        }
        println!("{line}");
    }
    Ok(())
}

async fn bulk_add(a: BulkAddArgs) -> CmdResult {
    if a.count == 0 {
        return Err(Failure::usage("count must be at least 1"));
    }
    let domain = jid::BareJid::new(&a.domain)
        .map_err(|e| Failure::usage(format!("invalid domain {:?}: {e}", a.domain)))?
        .domain()
        .as_str()
        .to_owned();
    let last = a
        .start
        .checked_add(a.count - 1)
        .ok_or_else(|| Failure::usage("start + count is too large"))?;
    let mut names = Vec::with_capacity(a.count as usize);
    for i in a.start..=last {
        let raw = format!("{}{i}", a.prefix);
        let prepared = xmpp_sasl::prepare_username(&raw)
            .map_err(|e| Failure::usage(format!("--prefix: {e}")))?;
        names.push(prepared.into_owned());
    }
    let store = open_store(&a.store).await?;
    let password = Arc::new(password::read(
        a.password_stdin,
        "Password for every account: ",
        true,
    )?);
    let realms: Vec<String> = realms(&a.realm, &domain)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let started = Instant::now();
    // One salt per account, so PBKDF2 runs per account: split the work over
    // the cores in blocking threads.
    let workers = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .min(names.len());
    let chunk = names.len().div_ceil(workers);
    let mut tasks = Vec::new();
    for part in names.chunks(chunk) {
        let part = part.to_vec();
        let password = password.clone();
        let realms = realms.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            let r: Vec<&str> = realms.iter().map(String::as_str).collect();
            part.into_iter()
                .map(|u| {
                    let c = StoredCredentials::derive(&u, &password, &r);
                    (u, c)
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut users = Vec::with_capacity(names.len());
    for t in tasks {
        match t.await {
            Ok(part) => users.extend(part),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    let derived = started.elapsed();
    store.put_many(&domain, &users).await?;
    println!(
        "added {} accounts {}{}@{domain} .. {}{}@{domain} (derive {:.2}s, write {:.2}s)",
        users.len(),
        a.prefix,
        a.start,
        a.prefix,
        last,
        derived.as_secs_f64(),
        (started.elapsed() - derived).as_secs_f64()
    );
    Ok(())
}
