//! The resumable restricted-XML scanner ("framer").
//!
//! One explicit state machine examines every byte once, across any number of
//! `decode` calls: the state, the scan position and the spans of what it has
//! seen survive between calls. Looked at again are only what the end of the
//! input cuts off: a UTF-8 sequence (at most 3 bytes), a partial `<?xml` (at
//! most 5), an element or attribute name (at most `max_name_len`); and an
//! element that [`Framer::decode`] takes over from [`Framer::decode_raw`]
//! (which does not record the nodes a tree needs), or the reverse.
//!
//! The common constructs go through no state dispatch: a start tag is read
//! from `<` to `>` in one call (`Framer::start_tag`), text is checked
//! inline a word at a time for up to 256 bytes (longer runs go on with
//! `memchr` and are validated in bulk), and the end tag that closes a text
//! run is matched where the run ends. The state machine takes over wherever
//! the input ends or something is unusual, from a state equivalent to where
//! the fast path stopped.
//!
//! While scanning it records each node of the element (spans into its
//! bytes, in document order) from which the navigable
//! [`Element`](crate::Element) is built without re-parsing: its root at
//! once, its descendants when they are first navigated to
//! (`crate::parsed`); text that needs unescaping is kept as its span and
//! decoded when read.
//!
//! The current top-level element starts at offset 0 of the buffer:
//! whitespace between top-level elements is consumed as it is seen, and a
//! finished element is split off exactly at its last `>`. The exception is
//! [`Framer::decode_borrowed`], which leaves the elements it hands out (and
//! the whitespace after them) in place and removes them all at once when
//! it needs more input; the current element then starts at `pending`.
//!
//! The modules, from the bottom up (each uses only those above it here):
//! `mode` (which `decode` method is stepping), `events` (what is recorded:
//! spans, packed namespace references, the open-element stack), `names`
//! (the start tag being read and the namespace bindings in scope), `state`
//! (the [`Framer`] and its field groups), `resolve` (a start tag's
//! namespaces), `prolog` (XML declaration, stream header), `tags` (start
//! and end tags), `text` (references, CDATA), `run` (the dispatch loop),
//! `tree` (building the [`Element`](crate::Element)), and this one (the `decode` methods).

use bytes::{Buf, Bytes, BytesMut};

use crate::chars::is_ws;
use crate::error::{Condition, XmlError};
use crate::frame::{Frame, StreamHeader};
use crate::limits::Limits;
use crate::raw::{BorrowedElement, BorrowedFrame, RawElement, RawFrame};

macro_rules! bail {
    ($e:expr) => {
        return Err($e)
    };
}

mod events;
mod mode;
mod names;
mod prolog;
mod resolve;
mod run;
mod state;
mod tags;
mod text;
mod tree;

use events::MAX_STANZA;
use mode::{Borrow, Mode, Raw, Tree};
use state::{Done, Lex, Phase, NONE};

pub use state::Framer;

pub(crate) use events::{Ns, NsRef, Rec};

impl Framer {
    /// The limits in force (or pending for the next element).
    pub fn limits(&self) -> &Limits {
        self.next_limits.as_ref().unwrap_or(&self.limits)
    }

    /// Change the limits; they take effect from the next top-level element.
    pub fn set_limits(&mut self, limits: Limits) {
        self.next_limits = Some(limits);
    }

    /// Expect a new stream header; the buffer is not touched (but for an
    /// element [`Framer::decode_borrowed`] left in it, removed at the next
    /// call as always), so bytes already received for the new stream are
    /// decoded next.
    pub fn reset(&mut self) {
        let limits = self
            .next_limits
            .take()
            .unwrap_or_else(|| self.limits.clone());
        let old = std::mem::replace(self, Framer::new(limits));
        self.pending = old.pending;
        // A fresh framer, but with the old one's (emptied) vectors: a
        // restart would otherwise free them all and grow them again from
        // nothing (about 10 allocations per reset in a negotiation).
        self.reuse(old);
    }

    /// Take over `old`'s vectors, emptied, to keep their capacity.
    fn reuse(&mut self, old: Framer) {
        fn take<T>(into: &mut Vec<T>, mut from: Vec<T>) {
            from.clear();
            *into = from;
        }
        take(&mut self.open, old.open);
        take(&mut self.tag.attrs, old.tag.attrs);
        take(&mut self.rec.recs, old.rec.recs);
        take(&mut self.rec.attr_evs, old.rec.attr_evs);
        take(&mut self.scope.bindings, old.scope.bindings);
        take(&mut self.scope.base, old.scope.base);
        take(&mut self.scope.owned, old.scope.owned);
        take(&mut self.prolog.header_qname, old.prolog.header_qname);
    }

    /// Whether `</stream:stream>` has been decoded.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Frees what scanning earlier elements grew (their node and attribute
    /// records, the open-element stack, the namespace bindings), unless an
    /// element is being read: for streams that go idle. The next element
    /// grows them again. An idle server session held ~650 bytes of them,
    /// grown during its negotiation (valgrind massif).
    pub fn release_memory(&mut self) {
        if self.cur.lex != Lex::Between {
            return;
        }
        self.rec.recs = Vec::new();
        self.rec.attr_evs = Vec::new();
        self.open = Vec::new();
        self.scope.bindings = Vec::new();
        self.scope.owned = Vec::new();
        self.tag.attrs = Vec::new();
    }

    /// Decode the next frame, with top-level elements as [`RawElement`]s:
    /// validated bytes split off `buf`, plus the root's name, namespace
    /// and attributes.
    pub fn decode_raw(&mut self, buf: &mut BytesMut) -> Result<Option<RawFrame>, XmlError> {
        Ok(match self.step::<Raw>(buf)? {
            None => None,
            Some(Step::Header(h)) => Some(RawFrame::Header(h)),
            Some(Step::Close) => Some(RawFrame::Close),
            Some(Step::Element(buf)) => Some(RawFrame::Element(RawElement {
                ns: self.scope.ns_str_in(&buf, self.root_ns),
                buf,
                tag: self.root,
            })),
            // Only `step::<Borrow>` leaves an element in the buffer.
            Some(Step::Borrowed(..)) => None,
        })
    }

    /// Decode the next frame as [`Framer::decode_raw`] does, but leave a
    /// top-level element in `buf` and borrow it: no reference count is
    /// touched and nothing is copied, for callers that look at an element
    /// and forward or drop it. The elements it hands out are removed from
    /// the front of `buf` together, when it needs more input (returns
    /// `Ok(None)`), or by the next call of another `decode` method; `buf`
    /// must not lose them before then (appending to it is fine), or that
    /// call fails with [`XmlError::BufferShrank`].
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use xmpp_xml::{BorrowedFrame, Framer};
    ///
    /// let mut framer = Framer::default();
    /// let mut buf = BytesMut::from(
    ///     &b"<stream:stream xmlns='jabber:client' \
    ///        xmlns:stream='http://etherx.jabber.org/streams'>\
    ///        <iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"[..],
    /// );
    /// let mut ids = Vec::new();
    /// while let Some(frame) = framer.decode_borrowed(&mut buf).unwrap() {
    ///     if let BorrowedFrame::Element(e) = frame {
    ///         assert_eq!((e.name(), e.ns()), ("iq", "jabber:client"));
    ///         ids.push(e.attr("id").unwrap().into_owned());
    ///     }
    /// }
    /// assert_eq!(ids, ["p1"]);
    /// assert!(buf.is_empty());
    /// ```
    pub fn decode_borrowed<'a>(
        &'a mut self,
        buf: &'a mut BytesMut,
    ) -> Result<Option<BorrowedFrame<'a>>, XmlError> {
        Ok(match self.step::<Borrow>(buf)? {
            None => None,
            Some(Step::Header(h)) => Some(BorrowedFrame::Header(h)),
            Some(Step::Close) => Some(BorrowedFrame::Close),
            Some(Step::Borrowed(at, n)) => {
                let me: &'a Self = self;
                let bytes: &'a [u8] = buf.get(at..at + n).unwrap_or(b"");
                Some(BorrowedFrame::Element(BorrowedElement {
                    bytes,
                    ns: me.scope.ns_in(bytes, me.root_ns),
                    tag: &me.root,
                }))
            }
            // `step::<Borrow>` never splits an element off.
            Some(Step::Element(_)) => None,
        })
    }

    /// Decode the next frame, with top-level elements fully built.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, XmlError> {
        Ok(match self.step::<Tree>(buf)? {
            None => None,
            Some(Step::Header(h)) => Some(Frame::Header(*h)),
            Some(Step::Close) => Some(Frame::Close),
            Some(Step::Element(bytes)) => Some(Frame::Element(self.build_tree(bytes))),
            // Only `step::<Borrow>` leaves an element in the buffer.
            Some(Step::Borrowed(..)) => None,
        })
    }

    fn step<M: Mode>(&mut self, buf: &mut BytesMut) -> Result<Option<Step>, XmlError> {
        if self.pending > buf.len() {
            return Err(self.shrank());
        }
        if !M::BORROW && self.pending != 0 {
            self.drop_front(buf, 0);
        }
        let tree = M::TREE;
        match self.phase {
            Phase::Failed(c) => return Err(XmlError::Poisoned(c)),
            Phase::Closed => return Ok(None),
            _ => {}
        }
        if tree != self.rec.tree && self.cur.lex != Lex::Between && self.phase == Phase::Stream {
            // The element was begun by the other call: `decode_raw` skips
            // the nodes a tree needs, `decode` what `decode_raw` keeps of
            // the root. Scan it again from its `<` (only when the two calls
            // are mixed on one element).
            self.cur.lex = Lex::Between;
            self.cur.pos = 0;
        }
        self.rec.tree = tree;
        if self.pending + self.cur.pos > buf.len() {
            return Err(self.shrank());
        }
        match self.step_inner::<M>(buf) {
            Ok(s) => Ok(s),
            Err(e) => {
                self.phase = Phase::Failed(e.condition().unwrap_or(Condition::NotWellFormed));
                Err(e)
            }
        }
    }

    /// The caller removed bytes the framer had examined, or an element it
    /// handed out before the next call: a misuse, which ends the stream.
    #[cold]
    fn shrank(&mut self) -> XmlError {
        self.phase = Phase::Failed(Condition::NotWellFormed);
        XmlError::BufferShrank
    }

    /// Remove what was decoded before the current element (`pending`)
    /// and `n` more bytes from the front of `buf`.
    fn drop_front(&mut self, buf: &mut BytesMut, n: usize) {
        buf.advance(std::mem::take(&mut self.pending) + n);
    }

    /// The current top-level element starts at `self.pending`: 0, but for
    /// `decode_borrowed`, which leaves the elements (and the whitespace
    /// after them) it handed out at the front of the buffer and removes
    /// them all at once when it needs more input.
    fn step_inner<M: Mode>(&mut self, buf: &mut BytesMut) -> Result<Option<Step>, XmlError> {
        loop {
            if self.cur.lex == Lex::Between {
                let mut p = self.pending;
                while p < buf.len() && is_ws(buf[p]) {
                    p += 1;
                }
                if M::BORROW {
                    self.pending = p;
                } else if p > 0 {
                    buf.advance(p);
                }
                self.cur.pos = 0;
                let Some(&b) = buf.get(self.pending) else {
                    self.drop_front(buf, 0);
                    return Ok(None);
                };
                if b == b'<' {
                    self.begin_element();
                    self.cur.tag_start = 0;
                    self.cur.pos = 1;
                    self.cur.lex = Lex::Lt;
                } else if self.phase == Phase::Prolog
                    && !self.prolog.seen_token
                    && !self.prolog.seen_bom
                    && b == 0xEF
                {
                    self.drop_front(buf, 0);
                    if buf.len() < 3 {
                        return Ok(None);
                    }
                    if buf[..3] != [0xEF, 0xBB, 0xBF] {
                        bail!(XmlError::Syntax("text before the stream header"));
                    }
                    buf.advance(3);
                    self.prolog.seen_bom = true;
                    continue;
                } else if self.phase == Phase::Stream {
                    bail!(XmlError::TextAtStreamLevel);
                } else {
                    bail!(XmlError::Syntax("text before the stream header"));
                }
            }
            let limit = self.limits.max_stanza_bytes.min(MAX_STANZA);
            let off = self.pending;
            let d = &buf[off..];
            let end = d.len().min(limit);
            match self.run(&d[..end])? {
                None => {
                    if d.len() >= limit {
                        bail!(XmlError::StanzaTooLarge { limit });
                    }
                    self.drop_front(buf, 0);
                    return Ok(None);
                }
                Some(Done::XmlDecl(n)) => {
                    self.drop_front(buf, n);
                    self.cur.pos = 0;
                    self.cur.lex = Lex::Between;
                }
                Some(Done::Header(h, n)) => {
                    self.drop_front(buf, n);
                    self.cur.pos = 0;
                    self.cur.lex = Lex::Between;
                    return Ok(Some(Step::Header(h)));
                }
                Some(Done::Close(n)) => {
                    self.drop_front(buf, n);
                    self.cur.pos = 0;
                    self.cur.lex = Lex::Between;
                    self.phase = Phase::Closed;
                    return Ok(Some(Step::Close));
                }
                Some(Done::Element(n)) => {
                    self.cur.pos = 0;
                    self.cur.lex = Lex::Between;
                    if M::BORROW {
                        self.pending = off + n;
                        return Ok(Some(Step::Borrowed(off, n)));
                    }
                    return Ok(Some(Step::Element(buf.split_to(n).freeze())));
                }
            }
        }
    }

    /// A top-level element (or the stream header) starts: pending limits
    /// take effect, and what was recorded of the previous one is cleared.
    fn begin_element(&mut self) {
        if let Some(l) = self.next_limits.take() {
            self.name_room = state::name_room(&l);
            self.limits = l;
        }
        self.rec.recs.clear();
        self.rec.attr_evs.clear();
        self.rec.shared_attrs = false;
        self.scope.owned.clear();
        self.open.clear();
        self.scope.bindings.clear();
        self.tag.attrs.clear();
        self.tag.seen = 0;
        self.tag.maybe_dup = false;
        self.root.n_inline = 0;
        self.root.inline_esc = 0;
        self.depth = 0;
        self.text.start = NONE;
        self.text.esc = false;
    }
}

/// What one step of the framer yields.
enum Step {
    /// Boxed: it is rare, and an inline header would make every
    /// `Result<Option<Step>>` that carries an element 200 bytes to move.
    Header(Box<StreamHeader>),
    Element(Bytes),
    /// An element left in the buffer: its offset and length.
    Borrowed(usize, usize),
    Close,
}
