//! `xmpp bench`: a closed-loop login load generator for any XMPP server.
//!
//! Logins use RFC 6120 SASL unless `--sasl2` (SASL2, with Bind2 when
//! offered) or `--fast` (FAST token logins, [`fast`]): the protocol measured
//! does not depend on what the server happens to offer. `--resume`
//! measures stream management resumptions instead ([`resume`]).
//!
//! Each login connects over TCP to `--server`, or with `--websocket URL`
//! opens its own WebSocket (RFC 7395; `ws://` with `--tls off`, `wss://`)
//! and negotiates the same way over it, minus STARTTLS: every mode works
//! over either transport, and the report says which (`transport`).

mod fast;
mod report;
mod resume;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use futures_util::SinkExt as _;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use xmpp_sasl::{Mechanism, Pbkdf2Cache};
use xmpp_stream::client::{self, ClientConfig, Sasl2Mode};
use xmpp_stream::websocket::WsUrl;
use xmpp_stream::{ClientError, Observer, StreamInfo, XmppStream};
use zeroize::Zeroizing;

use crate::cli::{BenchArgs, ClientTls};
use crate::exit::{CmdResult, Code, Failure};
use crate::password;
use report::{print_report, Report};

/// Shared counters.
#[derive(Default)]
struct Totals {
    started: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    held: AtomicU64,
    stop: AtomicBool,
    failures: Mutex<BTreeMap<String, u64>>,
    /// One histogram for every worker: a per-worker one (1 us .. 120 s at 3
    /// significant digits) is ~150 KB, i.e. 1.5 GB of generator memory for
    /// `--hold --concurrency 10000`. A lock per login is cheap at these rates.
    latencies: Mutex<Option<Histogram<u64>>>,
    /// Set to `true` once to release held sessions (no per-task polling: 10,000
    /// held workers waking every 100 ms cost the generator ~100k wake-ups/s).
    released: Option<tokio::sync::watch::Sender<bool>>,
    /// The mechanism of each counted login.
    mechanisms: Mutex<BTreeMap<String, u64>>,
    /// Counted logins that used SASL2, and those Bind2 bound.
    sasl2: AtomicU64,
    bound_inline: AtomicU64,
    /// `--fast` and `--resume`: the uncounted password logins (that asked
    /// for tokens, or opened the sessions to resume); `--fast`: the tokens
    /// they got, and the tokens the server rotated in token logins.
    password_logins: AtomicU64,
    tokens_issued: AtomicU64,
    tokens_rotated: AtomicU64,
    /// `--fast`: why a password login got no token (the first reason seen).
    no_token: OnceLock<String>,
    /// `--resume`: echoes that never came after a resumption, and echoes
    /// that came twice.
    sm_lost: AtomicU64,
    sm_duplicated: AtomicU64,
}

impl Totals {
    fn new() -> Self {
        Totals {
            latencies: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3).ok()),
            released: Some(tokio::sync::watch::channel(false).0),
            ..Totals::default()
        }
    }

    /// Counts a successful login that took `elapsed`.
    fn record_ok(&self, elapsed: Duration, info: &StreamInfo) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if let Some(h) = self
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            let _ = h.record(us.max(1));
        }
        self.ok.fetch_add(1, Ordering::Relaxed);
        *self
            .mechanisms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(info.mechanism.to_string())
            .or_default() += 1;
        if info.sasl2 {
            self.sasl2.fetch_add(1, Ordering::Relaxed);
        }
        if info.bound_inline {
            self.bound_inline.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a failed login.
    fn record_failure(&self, condition: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        *self
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(condition)
            .or_default() += 1;
    }

    /// Stops claiming logins and releases held sessions.
    fn release(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(tx) = &self.released {
            tx.send_replace(true);
        }
    }
}

/// A short name for why a login failed, for the failure table.
fn condition(e: &ClientError) -> String {
    match e {
        ClientError::Sasl { condition, .. } => format!("sasl:{condition}"),
        ClientError::Stream { condition, .. } => format!("stream:{condition}"),
        ClientError::Mechanism { .. } => "mutual-auth".to_owned(),
        ClientError::Bind(c) => format!("bind:{c}"),
        ClientError::Session(c) => format!("session:{c}"),
        ClientError::Timeout => "timeout".to_owned(),
        ClientError::Closed => "closed".to_owned(),
        // connect_over reports a failed upgrade as an I/O error.
        ClientError::Io(e) if e.to_string().starts_with("WebSocket") => "websocket".to_owned(),
        ClientError::Io(e) => format!("io:{:?}", e.kind()),
        ClientError::NoMechanism { .. } => "no-mechanism".to_owned(),
        ClientError::Sasl2(_) => "sasl2".to_owned(),
        ClientError::ChannelBinding(_) => "channel-binding".to_owned(),
        ClientError::Tls(_) => "tls".to_owned(),
        _ => "protocol".to_owned(),
    }
}

/// Resident set size of a process, in KiB (Linux).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// utime + stime of a process in clock ticks (`/proc/<pid>/stat` fields 14, 15; Linux).
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is parenthesised and may contain spaces: split after it.
    let rest = stat.rsplit_once(") ")?.1;
    let mut f = rest.split_whitespace().skip(11);
    Some(f.next()?.parse::<u64>().ok()? + f.next()?.parse::<u64>().ok()?)
}

/// Linux reports /proc times in USER_HZ, which is 100 on every supported ABI.
const USER_HZ: f64 = 100.0;

struct Plan {
    server: String,
    /// `--websocket`: each login opens a WebSocket to this URL instead.
    websocket: Option<WsUrl>,
    tls_server_name: Option<String>,
    domain: String,
    prefix: String,
    users: u32,
    password: Zeroizing<String>,
    mechanism: Option<Mechanism>,
    allow_plain: bool,
    tls: crate::cli::ClientTls,
    /// Sets the CA roots loaded once from --ca-file (rustls' config type is
    /// not re-exported by xmpp-stream, so it stays inside a closure).
    tls_roots: Box<dyn Fn(&mut ClientConfig) + Send + Sync>,
    timeout: Duration,
    logins: Option<u64>,
    /// When the run ends: set when the counted logins start (at once, or
    /// with `--fast` once the workers have their tokens).
    deadline: OnceLock<Instant>,
    /// `--duration` (or its default).
    duration: Duration,
    ramp_up: Duration,
    hold: bool,
    /// RFC 6120 SASL unless `--sasl2` or `--fast`.
    sasl2: Sasl2Mode,
    /// SCRAM salted passwords shared by every login (RFC 5802 §5.1), so the
    /// generator measures the server, not its own PBKDF2.
    pbkdf2_cache: Pbkdf2Cache,
    /// `--stream-management`.
    stream_management: bool,
}

/// The one TLS client configuration of a run (`None`: the default per
/// login, with the system roots, when they cannot be loaded here): from
/// `--ca-file` or the system roots, without session resumption with
/// `--no-tls-resumption`.
fn tls_client_config(
    args: &BenchArgs,
) -> Result<Option<std::sync::Arc<xmpp_stream::tls::rustls::ClientConfig>>, Failure> {
    let config = match &args.ca_file {
        Some(p) => xmpp_stream::tls::ca_file_config(p)
            .map_err(|e| Failure::usage(format!("--ca-file {}: {e}", p.display())))?,
        None if matches!(args.tls, crate::cli::ClientTls::Off) => return Ok(None),
        None => match xmpp_stream::tls::system_roots_config() {
            Ok(c) => c,
            Err(_) => return Ok(None),
        },
    };
    if !args.no_tls_resumption {
        return Ok(Some(config));
    }
    let mut config = (*config).clone();
    config.resumption = xmpp_stream::tls::rustls::client::Resumption::disabled();
    Ok(Some(std::sync::Arc::new(config)))
}

impl Plan {
    /// The plan for `args`; the run ends `duration` (plus the ramp-up) after
    /// [`Plan::start_clock`], or with `--hold` once every worker opened its
    /// session.
    fn new(
        args: &BenchArgs,
        password: Zeroizing<String>,
        allow_plain: bool,
        duration: Duration,
    ) -> Result<Self, Failure> {
        Ok(Plan {
            server: args.server.clone(),
            websocket: websocket_url(args)?,
            tls_server_name: args.tls_server_name.clone(),
            domain: args.domain.clone(),
            prefix: args.user_prefix.clone(),
            users: args.users,
            password,
            mechanism: args.mechanism,
            allow_plain,
            tls: args.tls,
            // Load the CA file once, not per login: one TLS client
            // configuration, whose session store lets later logins resume.
            tls_roots: match tls_client_config(args)? {
                Some(config) => {
                    Box::new(move |c: &mut ClientConfig| c.tls_config = Some(config.clone()))
                }
                None => Box::new(|_: &mut ClientConfig| {}),
            },
            timeout: args.timeout,
            logins: if args.hold {
                Some(args.concurrency as u64)
            } else {
                args.logins
            },
            deadline: OnceLock::new(),
            duration,
            ramp_up: args.ramp_up,
            hold: args.hold,
            // Auto would measure whichever the server offers.
            sasl2: if args.sasl2 || args.fast {
                Sasl2Mode::Required
            } else {
                Sasl2Mode::Off
            },
            pbkdf2_cache: Pbkdf2Cache::new(1 << 16),
            stream_management: args.stream_management,
        })
    }

    /// The counted logins start `now` (with `--fast`, once the workers have
    /// their tokens): sets the deadline.
    fn start_clock(&self, now: Instant) {
        // With --hold, --duration is how long the sessions are held once open.
        let _ = self.deadline.set(if self.hold {
            now + Duration::from_secs(365 * 24 * 3600)
        } else {
            now + self.duration + self.ramp_up
        });
    }

    /// The account login number `n` (or worker `n`) uses: 1 ..= `--users`.
    fn user_of(&self, n: u64) -> u64 {
        n % u64::from(self.users) + 1
    }

    fn config(&self, n: u64) -> Result<ClientConfig, Failure> {
        self.client_config(self.user_of(n), &self.password)
    }

    /// The config of account `user`, with `password` (empty for token
    /// logins, so that a refused token fails instead of falling back).
    fn client_config(&self, user: u64, password: &str) -> Result<ClientConfig, Failure> {
        let jid = format!("{}{user}@{}", self.prefix, self.domain);
        let tls_first = tls_first(self.tls, self.websocket.as_ref());
        let (selector, fallback) =
            crate::login::selector(self.mechanism, self.allow_plain, tls_first)?;
        let mut c = ClientConfig::new(&jid, password)
            .map_err(Failure::usage)?
            .with_selector(selector);
        c = crate::login::apply_tls(c, self.tls, None)?;
        (self.tls_roots)(&mut c);
        c.tls_server_name.clone_from(&self.tls_server_name);
        c.fallback = fallback;
        c.timeout = self.timeout;
        c.pbkdf2_cache = Some(self.pbkdf2_cache.clone());
        c.sasl2 = self.sasl2;
        c.stream_management = self.stream_management;
        Ok(c)
    }

    /// Claims the next login number, or `None` when the run is over.
    fn next(&self, totals: &Totals) -> Option<u64> {
        let over = self.deadline.get().is_some_and(|d| Instant::now() >= *d);
        if totals.stop.load(Ordering::Relaxed) || over {
            return None;
        }
        let n = totals.started.fetch_add(1, Ordering::Relaxed);
        match self.logins {
            Some(max) if n >= max => None,
            _ => Some(n),
        }
    }
}

async fn login_once(plan: &Plan, n: u64) -> Result<XmppStream<TcpStream>, String> {
    let config = plan.config(n).map_err(|f| f.message)?;
    log_in(plan, config, None).await
}

/// One login with `config`; `Err` is the failure's condition.
async fn log_in(
    plan: &Plan,
    config: ClientConfig,
    observer: Option<Arc<dyn Observer>>,
) -> Result<XmppStream<TcpStream>, String> {
    let attempt = async {
        let tcp = match &plan.websocket {
            Some(url) => TcpStream::connect((url.host.as_str(), url.port)).await,
            None => TcpStream::connect(&plan.server).await,
        }
        .map_err(|e| format!("connect:{:?}", e.kind()))?;
        let _ = tcp.set_nodelay(true);
        let negotiated = match &plan.websocket {
            Some(url) => xmpp_stream::websocket::connect_over(tcp, url, config, observer).await,
            None => client::connect(tcp, config, observer).await,
        };
        negotiated.map_err(|e| {
            tracing::debug!(error = %e, "login failed");
            condition(&e)
        })
    };
    tokio::time::timeout(plan.timeout, attempt)
        .await
        .unwrap_or_else(|_| Err("timeout".to_owned()))
}

async fn worker(plan: Arc<Plan>, totals: Arc<Totals>, start_delay: Duration) {
    tokio::time::sleep(start_delay).await;
    let mut held = Vec::new();
    while let Some(n) = plan.next(&totals) {
        let t0 = Instant::now();
        match login_once(&plan, n).await {
            Ok(mut stream) => {
                totals.record_ok(t0.elapsed(), stream.info());
                if plan.hold {
                    totals.held.fetch_add(1, Ordering::Relaxed);
                    held.push(stream);
                    // One held session per worker.
                    break;
                }
                // Close without waiting for the server's close (as loadgen.py
                // does): some servers answer it late, which would cap the rate.
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.close()).await;
            }
            Err(cond) => {
                totals.record_failure(cond);
                if plan.hold {
                    break;
                }
            }
        }
    }
    if plan.hold && !held.is_empty() {
        // Hold until the main task releases every session.
        if let Some(tx) = &totals.released {
            let _ = tx.subscribe().wait_for(|r| *r).await;
        }
        for mut s in held {
            let _ = tokio::time::timeout(Duration::from_secs(1), s.close()).await;
        }
    }
}

/// Runs `xmpp bench`: checks the arguments, opens the sessions from
/// `--concurrency` workers, and reports.
pub async fn run(args: BenchArgs) -> CmdResult {
    let allow_plain = check_arguments(&args)?;
    let password = password::read(
        args.password_stdin,
        "Password for the bench accounts: ",
        false,
    )?;
    let duration = run_length(&args);
    let plan = Arc::new(Plan::new(&args, password, allow_plain, duration)?);
    plan.config(0)?;
    let server_pid = args.server_pid.map(|p| p.to_string());
    let rss_before = args.server_pid.and_then(rss_kib);
    let totals = Arc::new(Totals::new());
    let bar = progress_bar(&args, duration);
    let interrupted = tokio::spawn(stop_on_ctrl_c(totals.clone()));
    // --fast: every worker's password login, asking for its token, before the clock starts.
    let credentials = if args.fast {
        let credentials = fast::obtain_tokens(&plan, &totals, args.concurrency).await;
        if credentials.iter().all(Option::is_none) {
            interrupted.abort();
            bar.finish_and_clear();
            let report = Report::new(&args, &totals, 0.0, (rss_before, None), (None, None));
            print_report(&report, args.json)?;
            return Err(Failure::new(Code::Other, fast::no_tokens(&totals)));
        }
        Some(credentials)
    } else {
        None
    };
    let started = Instant::now();
    plan.start_clock(started);
    let cpu_before = Cpu::sample(server_pid.as_deref());
    let workers = match credentials {
        Some(c) => fast::spawn_workers(&plan, &totals, c, args.ramp_up),
        None if args.resume => spawn_workers(args.concurrency, args.ramp_up, |delay, i| {
            resume::worker(plan.clone(), totals.clone(), delay, i)
        }),
        None => spawn_workers(args.concurrency, args.ramp_up, |delay, _| {
            worker(plan.clone(), totals.clone(), delay)
        }),
    };
    let ticker = tokio::spawn(show_progress(totals.clone(), bar.clone(), started));
    let (rss_held, cpu_after) = if args.hold {
        let rss = hold_sessions(&args, &totals, duration).await;
        // CPU per login covers opening the sessions, not closing them.
        let cpu = Cpu::sample(server_pid.as_deref());
        totals.release();
        join(workers).await;
        (rss, cpu)
    } else {
        join(workers).await;
        (None, Cpu::sample(server_pid.as_deref()))
    };
    ticker.abort();
    interrupted.abort();
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let rss_after = if args.hold {
        rss_held
    } else {
        args.server_pid.and_then(rss_kib)
    };
    let report = Report::new(
        &args,
        &totals,
        elapsed,
        (rss_before, rss_after),
        (Some(cpu_before), Some(cpu_after)),
    );
    print_report(&report, args.json)?;
    if report.logins == 0 && report.failures > 0 {
        return Err(Failure::new(Code::Other, "every login failed"));
    }
    let (lost, duplicated) = (
        totals.sm_lost.load(Ordering::Relaxed),
        totals.sm_duplicated.load(Ordering::Relaxed),
    );
    if lost + duplicated > 0 {
        return Err(Failure::new(
            Code::Other,
            format!("--resume: {lost} resumed stanzas lost, {duplicated} duplicated"),
        ));
    }
    Ok(())
}

/// Usage errors, found before the password prompt. Returns whether PLAIN
/// may go in the clear.
fn check_arguments(args: &BenchArgs) -> Result<bool, Failure> {
    if args.users == 0 || args.concurrency == 0 {
        return Err(Failure::usage(
            "--users and --concurrency must be at least 1",
        ));
    }
    let websocket = websocket_url(args)?;
    // As in `login`: the flag is needed for PLAIN whenever the stream may go
    // without TLS, and `--mechanism PLAIN` does not imply it (issue #12).
    let tls_first = tls_first(args.tls, websocket.as_ref());
    crate::login::selector(args.mechanism, args.allow_plain_without_tls, tls_first)?;
    Ok(args.allow_plain_without_tls)
}

/// `--websocket`, checked: a `ws:` or `wss:` URL, and `ws:` only with
/// `--tls off` (as in `login`: it sends everything in the clear).
fn websocket_url(args: &BenchArgs) -> Result<Option<WsUrl>, Failure> {
    let Some(url) = &args.websocket else {
        return Ok(None);
    };
    let url = WsUrl::parse(url).ok_or_else(|| {
        Failure::usage(format!(
            "--websocket {url}: not a ws:// or wss:// URL with a host"
        ))
    })?;
    if !url.secure && !matches!(args.tls, ClientTls::Off) {
        return Err(Failure::usage(
            "a ws:// URL sends everything in the clear: use wss://, or --tls off (tests only)",
        ));
    }
    Ok(Some(url))
}

/// Whether every login is inside TLS before SASL: `--tls required`, or a
/// `wss:` URL.
fn tls_first(tls: ClientTls, websocket: Option<&WsUrl>) -> bool {
    matches!(tls, ClientTls::Required) || websocket.is_some_and(|u| u.secure)
}

/// How long the run lasts: `--duration`, else practically unbounded with
/// `--logins`, else 10 s. With `--hold`, how long the sessions are held.
fn run_length(args: &BenchArgs) -> Duration {
    match (args.duration, args.logins, args.hold) {
        (Some(d), _, _) => d,
        (None, Some(_), false) => Duration::from_secs(24 * 3600),
        _ => Duration::from_secs(10),
    }
}

/// The live progress bar on stderr, hidden with `--json` or `--quiet`.
fn progress_bar(args: &BenchArgs, duration: Duration) -> ProgressBar {
    if args.json || args.quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(
        Some(duration.as_secs().max(1)),
        ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Starts `concurrency` workers (`worker(start_delay, i)`), their starts
/// spread over `ramp_up`.
fn spawn_workers<W, F>(concurrency: usize, ramp_up: Duration, worker: W) -> Vec<JoinHandle<()>>
where
    W: Fn(Duration, u64) -> F,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    (0..concurrency)
        .map(|i| {
            let delay = ramp_up.mul_f64(i as f64 / concurrency as f64);
            tokio::spawn(worker(delay, i as u64))
        })
        .collect()
}

/// Updates the progress bar every 250 ms, until aborted.
async fn show_progress(totals: Arc<Totals>, bar: ProgressBar, started: Instant) {
    let mut last = (Instant::now(), 0u64);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let ok = totals.ok.load(Ordering::Relaxed);
        let rate = (ok - last.1) as f64 / last.0.elapsed().as_secs_f64();
        last = (Instant::now(), ok);
        bar.set_position(started.elapsed().as_secs());
        bar.set_message(format!(
            "{ok} ok, {} failed, {rate:.0} logins/s, {} held",
            totals.failed.load(Ordering::Relaxed),
            totals.held.load(Ordering::Relaxed)
        ));
    }
}

/// Ctrl-C ends the run early (and releases held sessions), with a report.
async fn stop_on_ctrl_c(totals: Arc<Totals>) {
    let _ = tokio::signal::ctrl_c().await;
    totals.release();
}

/// With `--hold`: waits until every worker opened its session (or failed),
/// returns the server's RSS with all of them open, then holds them for
/// `duration` or until Ctrl-C.
async fn hold_sessions(args: &BenchArgs, totals: &Totals, duration: Duration) -> Option<u64> {
    while totals.ok.load(Ordering::Relaxed) + totals.failed.load(Ordering::Relaxed)
        < args.concurrency as u64
        && !totals.stop.load(Ordering::Relaxed)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the server settle before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = args.server_pid.and_then(rss_kib);
    let _ = tokio::time::timeout(duration, async {
        while !totals.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    rss
}

/// Waits for every worker to finish.
async fn join(workers: Vec<JoinHandle<()>>) {
    for w in workers {
        let _ = w.await;
    }
}

/// CPU time used so far by the generator and by `--server-pid`, in ticks.
#[derive(Clone, Copy)]
struct Cpu {
    generator: Option<u64>,
    server: Option<u64>,
}

impl Cpu {
    fn sample(server_pid: Option<&str>) -> Self {
        Cpu {
            generator: cpu_ticks("self"),
            server: server_pid.and_then(cpu_ticks),
        }
    }
}
