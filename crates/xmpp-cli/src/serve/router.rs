//! Routes stanzas between the sessions connected to this server.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tokio::sync::mpsc;
use xmpp_xml::Element;

/// A connected session's mailbox.
#[derive(Clone)]
struct Mailbox {
    id: u64,
    /// Boxed: tokio allocates a block of 32 slots per channel up front, and
    /// every idle session has one; 32 pointers cost far less than 32 elements.
    tx: mpsc::Sender<Box<Element>>,
    available: bool,
}

/// Connected sessions by bare JID, then resource.
#[derive(Default)]
pub struct Router {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, HashMap<String, Mailbox>>,
    /// Set by [`Router::close`]: no session registers any more.
    closed: bool,
}

/// Where a stanza went.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// To this many sessions.
    Delivered(usize),
    /// Nobody to deliver to.
    NoRecipient,
}

/// `bare/resource` -> (`bare`, `resource`).
pub fn split_full(jid: &str) -> (&str, Option<&str>) {
    match jid.split_once('/') {
        Some((bare, res)) => (bare, Some(res)),
        None => (jid, None),
    }
}

impl Router {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a bound session; returns its mailbox receiver, or `None`
    /// once the router is closed (the server is shutting down).
    ///
    /// A mailbox yields `None` when the router is closed or when a newer
    /// session took over its resource ([`Router::is_closed`] tells which).
    pub fn register(
        &self,
        full: &str,
        id: u64,
        capacity: usize,
    ) -> Option<mpsc::Receiver<Box<Element>>> {
        let (bare, res) = split_full(full);
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let (tx, rx) = mpsc::channel(capacity);
        state
            .sessions
            .entry(bare.to_lowercase())
            .or_default()
            .insert(
                res.unwrap_or_default().to_owned(),
                Mailbox {
                    id,
                    tx,
                    available: false,
                },
            );
        Some(rx)
    }

    /// Shutdown: drops every mailbox sender, so that each session's mailbox
    /// ends, and refuses new registrations. Sessions learn of the shutdown
    /// from their mailbox instead of each holding a shutdown future.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.sessions.clear();
    }

    /// Whether [`Router::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Removes a session (only if `id` still owns the resource).
    pub fn unregister(&self, full: &str, id: u64) {
        let (bare, res) = split_full(full);
        let bare = bare.to_lowercase();
        let mut state = self.lock();
        let map = &mut state.sessions;
        if let Some(resources) = map.get_mut(&bare) {
            let res = res.unwrap_or_default();
            if resources.get(res).is_some_and(|m| m.id == id) {
                resources.remove(res);
            }
            if resources.is_empty() {
                map.remove(&bare);
            }
        }
    }

    /// Marks a session available (initial presence) or not.
    pub fn set_available(&self, full: &str, id: u64, available: bool) {
        let (bare, res) = split_full(full);
        if let Some(m) = self
            .lock()
            .sessions
            .get_mut(&bare.to_lowercase())
            .and_then(|r| r.get_mut(res.unwrap_or_default()))
            .filter(|m| m.id == id)
        {
            m.available = available;
        }
    }

    /// Delivers to a full JID, or to every available resource of a bare JID.
    /// A full session whose mailbox is full loses the stanza (a slow reader
    /// must not stall its senders).
    pub fn deliver(&self, to: &str, stanza: &Element) -> Delivery {
        let (bare, res) = split_full(to);
        let targets: Vec<mpsc::Sender<Box<Element>>> = {
            let state = self.lock();
            let Some(resources) = state.sessions.get(&bare.to_lowercase()) else {
                return Delivery::NoRecipient;
            };
            match res {
                Some(r) => resources.get(r).map(|m| m.tx.clone()).into_iter().collect(),
                None => resources
                    .values()
                    .filter(|m| m.available)
                    .map(|m| m.tx.clone())
                    .collect(),
            }
        };
        let mut n = 0;
        for tx in targets {
            match tx.try_send(Box::new(stanza.clone())) {
                Ok(()) => n += 1,
                Err(e) => tracing::debug!(to, error = %e, "stanza dropped"),
            }
        }
        if n == 0 {
            Delivery::NoRecipient
        } else {
            Delivery::Delivered(n)
        }
    }

    /// How many sessions are connected.
    pub fn len(&self) -> usize {
        self.lock().sessions.values().map(HashMap::len).sum()
    }
}
