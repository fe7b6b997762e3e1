//! `xmpp bench --fast`: FAST token logins (XEP-0484).
//!
//! Before the clock starts, each worker logs in once with the password,
//! asking for a token, under a user-agent id of its own (the server binds
//! the token to it). Then it logs in again and again with its token, under
//! the same id and without the password, so that a refused token fails the
//! login instead of falling back; only these logins are counted. A token
//! the server sends with a token login (rotation) replaces the worker's; a
//! refused one is replaced by a new password login (not counted either).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use xmpp_sasl::{FastToken, Mechanism};
use xmpp_stream::client::UserAgent;
use xmpp_stream::{Direction, Observed, Observer};
use xmpp_xml::{ns, Frame};

use super::{log_in, Plan, Totals};

/// `urn:xmpp:sasl:2`
const NS_SASL2: &str = "urn:xmpp:sasl:2";
/// `urn:xmpp:fast:0`
const NS_FAST: &str = "urn:xmpp:fast:0";

/// What a worker logs in with.
pub(super) struct Credential {
    /// The account number.
    user: u64,
    /// The user agent the token is bound to.
    user_agent: UserAgent,
    token: FastToken,
}

/// Every worker's password login, at once; `None` for a worker that got no
/// token (counted as a failure, with why).
pub(super) async fn obtain_tokens(
    plan: &Arc<Plan>,
    totals: &Arc<Totals>,
    workers: usize,
) -> Vec<Option<Credential>> {
    let tasks: Vec<_> = (0..workers as u64)
        .map(|i| {
            let (plan, totals) = (plan.clone(), totals.clone());
            tokio::spawn(async move { password_login(&plan, &totals, plan.user_of(i), None).await })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.ok().flatten());
    }
    out
}

/// Why no worker got a token, for the error message.
pub(super) fn no_tokens(totals: &Totals) -> String {
    match totals.no_token.get() {
        Some(why) => format!("--fast: no FAST token: {why}"),
        None => "--fast: no FAST token: every password login failed (see the failures)".to_owned(),
    }
}

/// Starts a token worker for each credential, their starts spread over
/// `ramp_up`.
pub(super) fn spawn_workers(
    plan: &Arc<Plan>,
    totals: &Arc<Totals>,
    credentials: Vec<Option<Credential>>,
    ramp_up: Duration,
) -> Vec<JoinHandle<()>> {
    let n = credentials.len().max(1);
    credentials
        .into_iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|c| (i, c)))
        .map(|(i, c)| {
            let delay = ramp_up.mul_f64(i as f64 / n as f64);
            tokio::spawn(worker(plan.clone(), totals.clone(), delay, c))
        })
        .collect()
}

/// A password login of account `user` that asks for a token (under
/// `user_agent`, or a new random id).
async fn password_login(
    plan: &Plan,
    totals: &Totals,
    user: u64,
    user_agent: Option<UserAgent>,
) -> Option<Credential> {
    let mut config = match plan.client_config(user, &plan.password) {
        Ok(c) => c,
        Err(f) => {
            totals.record_failure(format!("password-login:{}", f.message));
            return None;
        }
    };
    if let Some(ua) = user_agent {
        config.user_agent = ua;
    }
    let user_agent = config.user_agent.clone();
    config.request_fast_token = true;
    let offer = Arc::new(FastOffer::default());
    let observer: Arc<dyn Observer> = offer.clone();
    let mut stream = match log_in(plan, config, Some(observer)).await {
        Ok(s) => s,
        Err(cond) => {
            totals.record_failure(format!("password-login:{cond}"));
            return None;
        }
    };
    totals.password_logins.fetch_add(1, Ordering::Relaxed);
    let token = stream.info().fast_token.clone();
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        futures_util::SinkExt::close(&mut stream),
    )
    .await;
    match token {
        Some(token) => {
            totals.tokens_issued.fetch_add(1, Ordering::Relaxed);
            Some(Credential {
                user,
                user_agent,
                token,
            })
        }
        None => {
            let (condition, why) = offer.why_no_token();
            totals.record_failure(format!("password-login:{condition}"));
            let _ = totals.no_token.set(why);
            None
        }
    }
}

/// Token logins until the run is over.
async fn worker(plan: Arc<Plan>, totals: Arc<Totals>, start_delay: Duration, mut c: Credential) {
    tokio::time::sleep(start_delay).await;
    while plan.next(&totals).is_some() {
        let mut config = match plan.client_config(c.user, "") {
            Ok(config) => config,
            Err(f) => return totals.record_failure(f.message),
        };
        config.user_agent = c.user_agent.clone();
        config.fast_token = Some(c.token.clone());
        let t0 = Instant::now();
        match log_in(&plan, config, None).await {
            Ok(mut stream) => {
                let elapsed = t0.elapsed();
                let info = stream.info();
                if info.mechanism.is_fast() {
                    totals.record_ok(elapsed, info);
                } else {
                    // Not offered on this connection: not a token login.
                    totals.record_failure(format!("fast:not-used:{}", info.mechanism));
                }
                if let Some(rotated) = info.fast_token.clone() {
                    c.token = rotated;
                    totals.tokens_rotated.fetch_add(1, Ordering::Relaxed);
                }
                // As the password logins: no waiting for the server's close.
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    futures_util::SinkExt::close(&mut stream),
                )
                .await;
            }
            Err(cond) => {
                // A refused token (a SASL failure: without a password there
                // is no fallback) is replaced by a new password login.
                let refused = cond.starts_with("sasl:");
                totals.record_failure(cond);
                if refused {
                    match password_login(&plan, &totals, c.user, Some(c.user_agent.clone())).await {
                        Some(new) => c = new,
                        None => return,
                    }
                }
            }
        }
    }
}

/// What the server's SASL2 feature offered of FAST: `None` until SASL2
/// features were seen, then the FAST mechanisms (`None` without `<fast/>`).
#[derive(Default)]
struct FastOffer {
    seen: Mutex<Option<Option<Vec<String>>>>,
}

impl Observer for FastOffer {
    fn observe(&self, event: &Observed<'_>) {
        let (Direction::Received, Frame::Element(el)) = (event.direction, event.frame) else {
            return;
        };
        if !el.is("features", ns::STREAM) {
            return;
        }
        let Some(auth) = el.child("authentication", NS_SASL2) else {
            return;
        };
        let fast = auth
            .child("inline", NS_SASL2)
            .and_then(|i| i.child("fast", NS_FAST))
            .map(|f| {
                f.children()
                    .filter(|m| m.is("mechanism", NS_FAST))
                    .map(|m| m.text().trim().to_owned())
                    .collect()
            });
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(fast);
    }
}

impl FastOffer {
    /// A condition for the failure table and a sentence, for a login that
    /// asked for a token and got none.
    fn why_no_token(&self) -> (&'static str, String) {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match seen {
            None => (
                "sasl2-not-seen",
                "the login succeeded without the server's SASL2 features being seen".to_owned(),
            ),
            Some(None) => (
                "fast-not-offered",
                "the server offers no FAST (XEP-0484): its SASL2 <authentication/> has no \
                 <fast/> inline"
                    .to_owned(),
            ),
            Some(Some(list)) => {
                // tls-unique (HT-SHA-256-UNIQ) is not available with rustls.
                let usable = list.iter().any(|m| {
                    Mechanism::from_name(m).is_some_and(|m| m.is_fast())
                        && m != Mechanism::HtSha256Uniq.as_str()
                });
                if usable {
                    (
                        "fast-token-not-issued",
                        format!(
                            "the server offers FAST ({}) but issued no token to a login that \
                             asked for one",
                            list.join(", ")
                        ),
                    )
                } else {
                    (
                        "fast-no-usable-mechanism",
                        format!(
                            "the server offers FAST only with mechanisms this client cannot use \
                             here: {list:?}"
                        ),
                    )
                }
            }
        }
    }
}
