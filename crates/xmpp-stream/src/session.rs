//! The negotiated stream: a `Stream` of incoming stanzas and a `Sink` for
//! outgoing ones, plus what negotiation established ([`StreamInfo`]).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::{Sink, Stream};
use jid::FullJid;
use tokio::io::{AsyncRead, AsyncWrite};
use xmpp_xml::{ns, Element, Frame, XmlError};

use crate::condition::StreamCondition;
use crate::conn::Conn;
use crate::negotiation::StreamInfo;
use crate::observer::{notify, Direction};
use crate::registry::BoundSession;
use crate::sm::{QueueFull, SmCounts, SmError};
use crate::wire;

mod sm;

use self::sm::Incoming;
pub(crate) use self::sm::{ServerSide, StreamSm};

/// Stanzas a client reads and keeps for the application while its full
/// queue waits for an acknowledgement, before it gives up on the server.
const MAX_READ_WHILE_BLOCKED: usize = 10_000;

/// Why an established stream ended or failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The peer sent a stream error.
    #[error("peer sent stream error <{condition}/>")]
    Received {
        /// The condition.
        condition: StreamCondition,
        /// The peer's text.
        text: Option<String>,
    },
    /// We sent a stream error (bad XML from the peer, the session was
    /// replaced or closed by the server) and closed the stream.
    #[error("stream closed with <{0}/>")]
    Sent(StreamCondition),
    /// Reading or writing failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer broke stream management (XEP-0198): we sent the stream
    /// error [`SmError::stream_error`] names and closed the stream.
    #[error("stream management: {0}")]
    StreamManagement(#[from] SmError),
    /// Writing: the queue of unacknowledged stanzas is full. The stanza was
    /// neither sent nor counted, and the stream goes on: wait for
    /// acknowledgements ([`XmppStream::flush_acked`]) and send it again.
    #[error(transparent)]
    QueueFull(#[from] QueueFull),
    /// The stream ended while stanzas we sent were still unacknowledged
    /// ([`XmppStream::flush_acked`]): the peer may or may not have handled
    /// them.
    #[error("the stream ended with {0} stanzas unacknowledged")]
    Unacknowledged(usize),
    /// On the server: the client resumed this stream's session on another
    /// connection (XEP-0198 §5), so this one was closed with `<conflict/>`.
    /// [`XmppStream::detach`] the session: the resumption is waiting for it.
    #[error("the session was resumed on another connection")]
    ResumedElsewhere,
}

/// An established XMPP stream.
///
/// Reading yields top-level elements (stanzas and nonzas) until the peer
/// closes the stream. On the server side it answers legacy session IQs
/// (RFC 3921 §3) itself and ends with a `<conflict/>` stream error when a
/// newer session takes over the resource, or with the condition given to
/// [`ResourceRegistry::close_sessions`](crate::server::ResourceRegistry::close_sessions).
///
/// With stream management (XEP-0198, [`StreamInfo::stream_management`])
/// it also answers the peer's `<r/>`, takes its `<a/>`, asks for an
/// acknowledgement itself every 16 unacknowledged stanzas, and sends a
/// last `<a/>` before closing cleanly; stream management's elements never
/// reach the application. Each stanza written is counted and kept until
/// acknowledged ([`unacked`](Self::unacked)); [`flush_acked`](Self::flush_acked)
/// waits until the peer acknowledged everything. On the server side, a
/// client may enable it on the established stream with `<enable/>`.
pub struct XmppStream<S> {
    conn: Conn<S>,
    info: StreamInfo,
    pending: VecDeque<Frame>,
    /// Stanzas read while [`Self::flush_acked`] waited, not yielded yet.
    inbound: VecDeque<Element>,
    sm: StreamSm,
    bound: Option<BoundSession>,
    close_queued: bool,
    finished: bool,
    /// The peer closed the stream: after our close, read its remaining
    /// bytes (a TLS close_notify) until it closes the connection, so that
    /// dropping the socket never resets it.
    drain: bool,
    shut_down: bool,
    /// The session ended for good: a close or a stream error either way.
    /// A session whose connection was merely lost may be detached.
    clean_end: bool,
    /// What the application parked with a session this stream resumed.
    resumed_state: Option<Box<dyn std::any::Any + Send>>,
    /// Client: a stanza the full queue of unacknowledged stanzas could not
    /// take yet; written once acknowledgements make room (back-pressure).
    /// Boxed: an `Element` is 192 bytes, which every server session held
    /// inline for this client-only case.
    blocked: Option<Box<Element>>,
    /// An `<r/>` went out for the held stanza (not possible before the
    /// server's `<enabled/>` was read).
    blocked_asked: bool,
}

impl<S> XmppStream<S> {
    pub(crate) fn new(
        conn: Conn<S>,
        mut info: StreamInfo,
        bound: Option<BoundSession>,
        sm: StreamSm,
    ) -> Self {
        info.stream_management = sm.is_on();
        XmppStream {
            conn,
            info,
            pending: VecDeque::new(),
            inbound: VecDeque::new(),
            sm,
            bound,
            close_queued: false,
            finished: false,
            drain: false,
            shut_down: false,
            clean_end: false,
            resumed_state: None,
            blocked: None,
            blocked_asked: false,
        }
    }

    /// A stream that resumed a parked session: it resends what the client
    /// did not acknowledge, first.
    pub(crate) fn resumed(
        conn: Conn<S>,
        info: StreamInfo,
        resumed: crate::server::resumption::Resumed,
        resend: Vec<Element>,
        offer: Option<crate::sm::ServerOptions>,
        resumable: Option<std::sync::Arc<crate::server::ResumableSessions>>,
    ) -> Self {
        let bare = info.jid.to_bare();
        let sm = StreamSm::Server(self::sm::ServerSide {
            sm: Some(Box::new(resumed.sm)),
            offer,
            resumable,
            live: resumed.live.map(Box::new),
            bare: Some(bare),
        });
        let mut stream = XmppStream::new(conn, info, resumed.bound, sm);
        stream
            .pending
            .extend(resend.into_iter().map(Frame::Element));
        stream.inbound.extend(resumed.unread);
        stream.resumed_state = Some(resumed.state);
        stream
    }

    /// What negotiation established.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// The bound full JID.
    pub fn jid(&self) -> &FullJid {
        &self.info.jid
    }

    /// On the server side, the session's hold on its resource in the
    /// server's [`ResourceRegistry`](crate::server::ResourceRegistry):
    /// `None` on the client side and once a newer session took the resource.
    pub fn bound_session(&self) -> Option<&BoundSession> {
        self.bound.as_ref()
    }

    /// How many stanzas we sent that the peer has not acknowledged yet
    /// (XEP-0198); 0 without stream management.
    pub fn unacked(&self) -> usize {
        self.sm.unacked()
    }

    /// Stream management's counters, `None` while it is off.
    pub fn sm_counts(&self) -> Option<SmCounts> {
        self.sm.counts()
    }

    /// Asks the peer for an acknowledgement (`<r/>`), sent with the next
    /// write, flush or read. `false` without stream management.
    pub fn request_ack(&mut self) -> bool {
        match self.sm.request() {
            Some(r) => {
                self.pending.push_back(Frame::Element(r));
                true
            }
            None => false,
        }
    }

    /// On the server, after this stream resumed a session (XEP-0198 §5,
    /// [`StreamInfo::resumed`]): what the application parked with it
    /// ([`ResumableSessions::park`](crate::server::ResumableSessions::park)),
    /// once.
    pub fn take_resumed_state(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        self.resumed_state.take()
    }

    /// On the server: takes a resumable session (XEP-0198) off a stream
    /// whose connection was lost (it failed, ended without a close, or
    /// [`SessionError::ResumedElsewhere`]), to
    /// [`park`](crate::server::ResumableSessions::park) it until the client
    /// resumes. `None` when there is nothing to resume: no resumable
    /// session, or one that ended cleanly (a close or a stream error
    /// either way ends it for good, XEP-0198 §5). The connection is
    /// dropped either way.
    pub fn detach(mut self) -> Option<crate::server::Detached> {
        if self.clean_end {
            return None;
        }
        let (sm, live) = self.sm.detach()?;
        Some(crate::server::Detached {
            sm,
            jid: self.info.jid.clone(),
            bound: self.bound.take(),
            unread: self.inbound.drain(..).collect(),
            live,
        })
    }

    /// The session ended for good: a close (ours or the peer's) or a
    /// stream error either way, rather than a lost connection.
    pub fn ended_cleanly(&self) -> bool {
        self.clean_end
    }

    /// On the client: takes the stream management session (XEP-0198) off a
    /// stream whose connection was lost, to resume it on a new one
    /// ([`ClientConfig::resume`](crate::client::ClientConfig::resume)).
    /// `None` when it cannot be resumed: not enabled with resumption, or
    /// ended cleanly. The stream is left without stream management.
    pub fn suspend(&mut self) -> Option<crate::client::SuspendedSession> {
        if self.clean_end {
            return None;
        }
        let sm = self.sm.suspend()?;
        let mut suspended = crate::client::SuspendedSession::new(sm, self.info.jid.clone())?;
        // A stanza held back by a full queue goes with the session if it
        // has room now ([`take_unacked`](Self::take_unacked) has it if not).
        if let Some(held) = self.blocked.take() {
            if suspended.send(&held).is_err() {
                self.blocked = Some(held);
            }
        }
        Some(suspended)
    }

    /// On the client: ends stream management on a stream that cannot be
    /// resumed ([`suspend`](Self::suspend) gave `None`) and returns what
    /// the server never acknowledged, oldest first: stanzas it may or may
    /// not have handled. After `suspend`, what the suspended session had
    /// no room for.
    pub fn take_unacked(&mut self) -> Vec<Element> {
        let mut unacked = self.sm.take_unacked();
        unacked.extend(self.blocked.take().map(|b| *b));
        unacked
    }

    /// On the server: `Ready` once the client resumed this stream's session
    /// on another connection; registers `cx`'s waker until then. The stream
    /// reports it when read ([`SessionError::ResumedElsewhere`]); a shell
    /// blocked writing to the lost connection checks it too.
    pub fn poll_resumed_elsewhere(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.sm.poll_takeover(cx) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> XmppStream<S> {
    /// The underlying transport (TLS over the caller's stream after
    /// STARTTLS; under the WebSocket framing over WebSocket).
    pub fn get_ref(&self) -> &crate::transport::Transport<S> {
        self.conn.framed.get_ref()
    }

    fn observe_sent(&self, frame: &Frame) {
        if let Some(o) = &self.conn.observer {
            notify(o.as_ref(), Direction::Sent, self.conn.client, None, frame);
        }
    }

    /// Writes every queued frame out.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), XmlError>> {
        ready!(self.poll_queued(cx))?;
        Pin::new(&mut self.conn.framed).poll_flush(cx)
    }

    /// Hands every queued frame to the link, which may keep them buffered.
    fn poll_queued(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), XmlError>> {
        while !self.pending.is_empty() {
            ready!(Pin::new(&mut self.conn.framed).poll_ready(cx))?;
            if let Some(frame) = self.pending.pop_front() {
                self.observe_sent(&frame);
                Pin::new(&mut self.conn.framed).start_send(frame)?;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Writes every queued frame out before [`poll_finish`](Self::poll_finish).
    /// Over WebSocket the shutdown writes the close frame and flushes, so
    /// the last messages (our `<close/>`) and the close frame leave in one
    /// write; a byte stream's shutdown does not flush its codec's buffer.
    fn poll_pending_then_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), XmlError>> {
        if self.shut_down || !self.conn.framed.is_websocket() {
            return self.poll_pending(cx);
        }
        self.poll_queued(cx)
    }

    /// Sends a stream error and closes the stream (e.g. `system-shutdown`
    /// when a server stops). The stream yields nothing more afterwards.
    pub async fn close_with_error(
        &mut self,
        condition: StreamCondition,
        text: Option<&str>,
    ) -> Result<(), SessionError> {
        if !self.close_queued {
            self.pending
                .push_back(Frame::Element(wire::stream_error(condition, text)));
        }
        self.queue_close();
        self.finished = true;
        self.clean_end = true;
        std::future::poll_fn(|cx| self.poll_pending(cx))
            .await
            .map_err(|e| io_error(e).into())
    }

    /// Reads the next frame. An idle session holds no buffer memory: when
    /// nothing is buffered and the peer is silent, both buffers and the
    /// codec's encoding scratch are freed, and the read buffer is given its
    /// capacity back at the next poll.
    fn poll_read_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame, XmlError>>> {
        let item = self.conn.framed.poll_next_idle(cx);
        if item.is_pending() {
            // Nor queues: a `Frame` is 200 bytes, and the deque of frames
            // to write kept room for 4 after the first write (`<enabled/>`
            // of stream management, say) for the session's life.
            if self.pending.is_empty() && self.pending.capacity() > 0 {
                self.pending = VecDeque::new();
            }
            if self.inbound.is_empty() && self.inbound.capacity() > 0 {
                self.inbound = VecDeque::new();
            }
        }
        item
    }

    /// After the stream ended: shut our side of the transport down (TLS
    /// close_notify, then FIN) and, if the peer closed first, read until it
    /// closes the connection too.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SessionError>> {
        if !self.shut_down {
            // A peer that is gone already makes shutdown fail: that is fine.
            let _ = ready!(self.conn.framed.poll_shutdown(cx));
            self.shut_down = true;
        }
        while self.drain {
            if !ready!(self.conn.framed.poll_discard(cx)) {
                self.drain = false;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Waits until the peer acknowledged every stanza we sent (and, on a
    /// client, answered its `<enable/>`): asks for an acknowledgement,
    /// flushes, and reads until it comes. Stanzas read
    /// meanwhile are kept, and yielded by the stream afterwards. Without
    /// stream management it only flushes.
    ///
    /// [`SessionError::Unacknowledged`] when the stream ends first.
    pub async fn flush_acked(&mut self) -> Result<(), SessionError> {
        let mut requested = false;
        std::future::poll_fn(|cx| {
            loop {
                // Asked once stream management is active (a client's
                // `<enabled/>` may still be on its way).
                if !requested && self.sm.unacked() > 0 {
                    requested = self.request_ack();
                }
                ready!(self.poll_pending(cx)).map_err(io_error)?;
                // A client's <enable/> counts as unanswered too: after
                // this, stream management is known to be on or off.
                if self.sm.unacked() == 0 && !self.sm.is_enabling() {
                    return Poll::Ready(Ok(()));
                }
                match ready!(self.poll_read_step(cx)) {
                    Some(Ok(Some(el))) => self.inbound.push_back(el),
                    Some(Ok(None)) => {}
                    Some(Err(e)) => return Poll::Ready(Err(e)),
                    None => {
                        return Poll::Ready(Err(SessionError::Unacknowledged(self.sm.unacked())))
                    }
                }
            }
        })
        .await
    }

    /// Queues a last `<a/>` (with stream management) and our
    /// `</stream:stream>`: a clean close.
    fn queue_clean_close(&mut self) {
        if !self.close_queued {
            if let Some(a) = self.sm.ack() {
                self.pending.push_back(Frame::Element(a));
            }
        }
        self.queue_close();
    }

    /// Queues our `</stream:stream>` once.
    fn queue_close(&mut self) {
        if !self.close_queued {
            self.close_queued = true;
            self.pending.push_back(Frame::Close);
        }
    }

    fn queue_error(&mut self, condition: StreamCondition) {
        self.queue_error_element(wire::stream_error(condition, None));
    }

    fn queue_error_element(&mut self, error: Element) {
        if !self.close_queued {
            self.pending.push_back(Frame::Element(error));
        }
        self.queue_close();
        self.clean_end = true;
    }

    /// One step of reading: an element for the application, `Some(Ok(None))`
    /// when what was read was handled here (or the stream is closing), `None`
    /// at the end.
    fn poll_read_step(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Option<Element>, SessionError>>> {
        if self.finished {
            ready!(self.poll_pending_then_finish(cx)).map_err(io_error)?;
            ready!(self.poll_finish(cx))?;
            return Poll::Ready(None);
        }
        if let Some(condition) = self.bound.as_ref().and_then(|b| b.signal.poll_kicked(cx)) {
            // A newer session took our resource (RFC 6120 §7.7.2.2:
            // `conflict`), or the server ended the session (e.g. its
            // account was disabled: `not-authorized`).
            self.bound = None;
            self.queue_error(condition);
            self.finished = true;
            ready!(self.poll_pending(cx)).map_err(io_error)?;
            return Poll::Ready(Some(Err(SessionError::Sent(condition))));
        }
        if self.sm.poll_takeover(cx) {
            // Resumed on another connection: this one is dead to the client.
            // Tell it, without waiting on a connection that may be gone.
            self.queue_error_element(wire::stream_error(
                StreamCondition::Conflict,
                Some("the session was resumed on another connection"),
            ));
            self.clean_end = false;
            self.finished = true;
            let _ = self.poll_pending(cx);
            return Poll::Ready(Some(Err(SessionError::ResumedElsewhere)));
        }
        ready!(self.poll_pending(cx)).map_err(io_error)?;
        let item = ready!(self.poll_read_frame(cx));
        if let (Some(Ok(frame)), Some(o)) = (&item, &self.conn.observer) {
            notify(
                o.as_ref(),
                Direction::Received,
                !self.conn.client,
                None,
                frame,
            );
        }
        match item {
            None => {
                self.finished = true;
                Poll::Ready(None)
            }
            Some(Ok(Frame::Element(el))) => Poll::Ready(Some(self.on_element(el))),
            Some(Ok(Frame::Close)) => {
                // Answer the peer's close with ours (RFC 6120 §4.4).
                self.clean_end = true;
                self.queue_clean_close();
                self.finished = true;
                self.drain = true;
                Poll::Ready(Some(Ok(None)))
            }
            Some(Ok(_)) => {
                self.queue_error(StreamCondition::NotWellFormed);
                self.finished = true;
                Poll::Ready(Some(Err(SessionError::Sent(
                    StreamCondition::NotWellFormed,
                ))))
            }
            Some(Err(e)) => {
                self.finished = true;
                let Some(c) = e.condition() else {
                    let e = io_error(e);
                    // After our </stream:stream>, a TLS peer that closes
                    // the connection without close_notify (ejabberd 24.12,
                    // without a </stream:stream> of its own) ended the
                    // stream as a FIN does without TLS.
                    if self.close_queued && e.kind() == std::io::ErrorKind::UnexpectedEof {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Err(e.into())));
                };
                let condition = StreamCondition::from(c);
                self.queue_error(condition);
                Poll::Ready(Some(Err(SessionError::Sent(condition))))
            }
        }
    }

    /// Writes the stanza a full queue held back, once acknowledgements made
    /// room: reads (keeping what it reads for the application) until then.
    /// A server that sends more than a queue's worth of stanzas meanwhile
    /// without acknowledging ends the wait with
    /// [`SessionError::QueueFull`].
    fn poll_unblock(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SessionError>> {
        while let Some(item) = self.blocked.take() {
            match self.sm.outgoing(&item) {
                Ok((_, request)) => {
                    self.blocked_asked = false;
                    self.pending.push_back(Frame::Element(*item));
                    self.pending.extend(request.map(Frame::Element));
                    return Poll::Ready(Ok(()));
                }
                Err(full) => {
                    self.blocked = Some(item);
                    if self.inbound.len() >= MAX_READ_WHILE_BLOCKED {
                        return Poll::Ready(Err(full.into()));
                    }
                    if !self.blocked_asked {
                        self.blocked_asked = self.request_ack();
                    }
                }
            }
            ready!(self.poll_pending(cx)).map_err(io_error)?;
            match ready!(self.poll_read_step(cx)) {
                Some(Ok(Some(el))) => self.inbound.push_back(el),
                Some(Ok(None)) => {}
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => return Poll::Ready(Err(SessionError::Unacknowledged(self.sm.unacked()))),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// A top-level element read: for the application, or handled here.
    fn on_element(&mut self, el: Element) -> Result<Option<Element>, SessionError> {
        if wire::is_stream_error(&el) {
            let (condition, text) = wire::read_stream_error(&el);
            self.queue_close();
            self.finished = true;
            self.clean_end = true;
            return Err(SessionError::Received { condition, text });
        }
        if self.conn.client && el.is("features", ns::STREAM) {
            // Features after a resumed SASL2 success (Prosody 13 sends
            // them, XEP-0198 says none come): nothing for the application.
            return Ok(None);
        }
        match self.sm.incoming(&el) {
            Ok(Incoming::Deliver) => {}
            Ok(Incoming::Consumed { reply }) => {
                // Nothing may follow our </stream:stream> (RFC 6120 §4.4):
                // an <r/> read after it goes unanswered (our close carried
                // a last <a/>).
                if let Some(reply) = reply.filter(|_| !self.close_queued) {
                    self.pending.push_back(Frame::Element(reply));
                }
                self.info.stream_management = self.sm.is_on();
                return Ok(None);
            }
            Err(e) => {
                self.queue_error_element(e.stream_error());
                self.finished = true;
                return Err(e.into());
            }
        }
        if self.bound.is_some() && is_session_request(&el) {
            let reply = wire::iq_result(&el);
            match self.sm.outgoing(&reply) {
                Ok((_, request)) => {
                    self.pending.push_back(Frame::Element(reply));
                    self.pending.extend(request.map(Frame::Element));
                }
                Err(full) => {
                    self.queue_error(StreamCondition::ResourceConstraint);
                    self.finished = true;
                    return Err(full.into());
                }
            }
            return Ok(None);
        }
        Ok(Some(el))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for XmppStream<S> {
    type Item = Result<Element, SessionError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(el) = this.inbound.pop_front() {
            return Poll::Ready(Some(Ok(el)));
        }
        loop {
            match ready!(this.poll_read_step(cx)) {
                Some(Ok(Some(el))) => return Poll::Ready(Some(Ok(el))),
                Some(Ok(None)) => {}
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => return Poll::Ready(None),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Element> for XmppStream<S> {
    type Error = SessionError;

    /// Not ready while a client's queue of unacknowledged stanzas is full:
    /// it asks for an acknowledgement and reads until one makes room
    /// (what it reads meanwhile is yielded afterwards).
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = &mut *self;
        ready!(this.poll_unblock(cx))?;
        ready!(this.poll_pending(cx)).map_err(io_error)?;
        Pin::new(&mut this.conn.framed)
            .poll_ready(cx)
            .map_err(|e| io_error(e).into())
    }

    /// Counts a stanza for stream management first. When its queue cannot
    /// take it, a client keeps it until acknowledgements make room
    /// (the next [`poll_ready`](Sink::poll_ready) or flush waits for
    /// them); a server closes the stream with `<resource-constraint/>`
    /// ([`SessionError::QueueFull`]): a client that never acknowledges is
    /// not worth queueing for.
    fn start_send(mut self: Pin<&mut Self>, item: Element) -> Result<(), Self::Error> {
        let this = &mut *self;
        let (write, request) = match this.sm.outgoing(&item) {
            Ok(outgoing) => outgoing,
            Err(_) if this.conn.client && this.blocked.is_none() => {
                this.blocked = Some(Box::new(item));
                this.blocked_asked = this.request_ack();
                return Ok(());
            }
            Err(full) => {
                this.queue_error(StreamCondition::ResourceConstraint);
                this.finished = true;
                return Err(full.into());
            }
        };
        if write {
            let frame = Frame::Element(item);
            this.observe_sent(&frame);
            Pin::new(&mut this.conn.framed)
                .start_send(frame)
                .map_err(io_error)?;
        }
        this.pending.extend(request.map(Frame::Element));
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready!(self.poll_unblock(cx))?;
        self.poll_pending(cx).map_err(|e| io_error(e).into())
    }

    /// Sends `</stream:stream>` (once; after a last `<a/>` with stream
    /// management) and closes the transport for writing.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = &mut *self;
        ready!(this.poll_unblock(cx))?;
        this.clean_end = true;
        this.queue_clean_close();
        ready!(this.poll_pending(cx)).map_err(io_error)?;
        Pin::new(&mut this.conn.framed)
            .poll_close(cx)
            .map_err(|e| io_error(e).into())
    }
}

fn is_session_request(el: &Element) -> bool {
    el.is("iq", ns::CLIENT)
        && el.attr("type") == Some("set")
        && el.child("session", ns::SESSION).is_some()
}

fn io_error(e: XmlError) -> std::io::Error {
    match e {
        XmlError::Io(e) => e,
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
    }
}
