//! The resumable restricted-XML scanner ("framer").
//!
//! One explicit state machine examines every byte once, across any number of
//! `decode` calls: the state, the scan position and the spans of what it has
//! seen survive between calls. Looked at again are only what the end of the
//! input cuts off: a UTF-8 sequence (at most 3 bytes), a partial `<?xml` (at
//! most 5), an element or attribute name (at most `max_name_len`); and an
//! element that [`Framer::decode`] takes over from [`Framer::decode_raw`]
//! (which does not record the events a tree needs), or the reverse.
//!
//! The common constructs go through no state dispatch: a start tag is read
//! from `<` to `>` in one call ([`Framer::start_tag`]), text is checked
//! inline a word at a time for up to 256 bytes (longer runs go on with
//! `memchr` and are validated in bulk), and the end tag that closes a text
//! run is matched where the run ends. The state machine takes over wherever
//! the input ends or something is unusual, from a state equivalent to where
//! the fast path stopped.
//!
//! While scanning it records a compact event list (spans into the element's
//! bytes) from which the navigable [`Element`] is built without re-parsing;
//! text that needs unescaping is kept as its span and decoded when read.
//!
//! The current top-level element starts at offset 0 of the buffer:
//! whitespace between top-level elements is consumed as it is seen, and a
//! finished element is split off exactly at its last `>`. The exception is
//! [`Framer::decode_borrowed`], which leaves the elements it hands out (and
//! the whitespace after them) in place and removes them all at once when
//! it needs more input; the current element then starts at `pending`.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use crate::chars::{
    self, check_qname, check_run, is_name_char, is_name_start, is_ws, plain_run, same, scan_name,
    utf8_char, NameRun, QName, Utf8,
};
use crate::element::{Attr, AttrList, Element, Node, Nodes, Qual, Str, Text};
use crate::error::{Condition, XmlError};
use crate::escape::{char_ref_value, unescape};
use crate::frame::{Frame, StreamHeader};
use crate::limits::Limits;
use crate::ns;
use crate::raw::{BorrowedElement, BorrowedFrame, RawElement, RawFrame, RootAttr, RootTag};

mod mode;

use mode::{Borrow, Mode, Raw, Tree};

const NONE: usize = usize::MAX;
/// Longest entity or character reference we accept (`&#x0010FFFF;` fits with room).
const MAX_REF: usize = 40;
/// Text is first scanned inline (see `Lex::Content`) up to this many bytes;
/// longer runs go on with `memchr`, which wins once its setup is paid for.
const TEXT_INLINE: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Before the stream header: XML declaration, whitespace, header.
    Prolog,
    /// Inside the stream: top-level elements and whitespace.
    Stream,
    /// After `</stream:stream>`.
    Closed,
    /// A decode error ended the stream.
    Failed(Condition),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lex {
    /// Between top-level elements (or before the header): whitespace only.
    Between,
    /// Character data inside an element.
    Content,
    /// Just after `<`.
    Lt,
    StartName,
    InTag,
    AttrName,
    AttrEq,
    AttrQuote,
    AttrValue,
    /// After `/` in a start tag.
    EmptyEnd,
    EndName,
    EndTail,
    /// Inside `&...;`.
    Ref,
    /// After `<!`.
    Bang,
    /// Matching `[CDATA[` (count in `cdata_match`).
    CdataOpen,
    Cdata,
    /// After `<?` at the very start of a stream.
    Question,
    XmlDecl,
}

/// A resolved namespace, as [`NsRef::get`] shows it: a span of the
/// element's bytes, or an owned string (unescaped value or inherited from
/// the stream header).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ns {
    Span(u32, u32),
    Owned(u32),
    /// A binding of the stream header (`Framer::base`).
    Base(u32),
    /// The `xml` prefix's namespace.
    Xml,
}

/// An [`Ns`] packed in one 64-bit word (`a | b << 32`): a span has
/// `a <= b`; the other kinds have a sentinel `a` above every offset (see
/// [`MAX_STANZA`]) and their index in `b`. Kept whole because the scanner
/// stores and reloads it on every start tag, and a 12-byte enum written in
/// pieces and read back in words stalled on store forwarding.
/// The default (0) is the empty span: no namespace.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NsRef(u64);

const OWNED: u32 = u32::MAX;
const BASE: u32 = u32::MAX - 1;
const XML: u32 = u32::MAX - 2;

impl NsRef {
    const XML: NsRef = NsRef::pack(XML, 0);
    #[inline(always)]
    const fn pack(a: u32, b: u32) -> NsRef {
        NsRef(a as u64 | (b as u64) << 32)
    }
    #[inline(always)]
    fn span(a: u32, b: u32) -> NsRef {
        NsRef::pack(a, b)
    }
    #[inline(always)]
    fn owned(i: u32) -> NsRef {
        NsRef::pack(OWNED, i)
    }
    #[inline(always)]
    fn base(i: u32) -> NsRef {
        NsRef::pack(BASE, i)
    }
    #[inline(always)]
    fn get(self) -> Ns {
        let (a, b) = (self.0 as u32, (self.0 >> 32) as u32);
        match a {
            _ if a <= b => Ns::Span(a, b),
            OWNED => Ns::Owned(b),
            BASE => Ns::Base(b),
            _ => Ns::Xml,
        }
    }
}

/// Offsets into a top-level element are `u32`s below the [`NsRef`]
/// sentinels, so a larger `max_stanza_bytes` acts as this.
const MAX_STANZA: usize = (u32::MAX - 8) as usize;

#[derive(Clone, Copy, Debug)]
struct RawAttr {
    name: (u32, u32),
    colon: Option<u32>,
    value: (u32, u32),
    esc: bool,
}

#[derive(Clone, Copy, Debug)]
struct Open {
    name: (u32, u32),
    mark: u32,
    /// Index of its `Ev::Start`, and how many child nodes it has so far
    /// (written into that event at the end tag).
    ev: u32,
    nodes: u32,
    /// The default namespace in scope inside it, when known without a
    /// lookup (it is unprefixed, so its own namespace is that default):
    /// unprefixed children without declarations take it as is.
    dflt: Option<NsRef>,
}

#[derive(Clone, Copy, Debug)]
struct Binding {
    /// Prefix span (empty span = default namespace).
    prefix: (u32, u32),
    uri: NsRef,
}

#[derive(Clone, Debug)]
struct BaseBinding {
    prefix: Box<[u8]>,
    uri: Str,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Ev {
    Start {
        name: (u32, u32),
        ns: NsRef,
        attrs: (u32, u32),
        /// Child nodes (elements and text runs), so the tree allocates
        /// each children vector once at its final size.
        nodes: u32,
    },
    End,
    Text {
        span: (u32, u32),
        esc: bool,
    },
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct AttrEv {
    prefix: Option<(u32, u32)>,
    name: (u32, u32),
    ns: Option<NsRef>,
    value: (u32, u32),
    esc: bool,
}

enum Done {
    XmlDecl(usize),
    Header(Box<StreamHeader>, usize),
    Element(usize),
    Close(usize),
}

/// Where the scan goes on, and the state to go on in: what survives a
/// `decode` call that ran out of input mid-construct.
#[derive(Debug)]
struct Cursor {
    lex: Lex,
    /// Offset of the next byte to examine in the current element.
    pos: usize,
    /// Start of the token being read (a name, an attribute value, CDATA).
    tok: usize,
    /// Offset of the `<` of the tag being read.
    tag_start: usize,
    /// Offset of the `&` of the reference being read, and whether it is in
    /// an attribute value (otherwise in text).
    ref_start: usize,
    ref_in_attr: bool,
    /// How much of `[CDATA[` is matched.
    cdata_match: u8,
}

/// The character data since the last tag.
#[derive(Debug)]
struct TextRun {
    /// Its first offset, or `NONE` when there is none.
    start: usize,
    /// It holds a reference, CDATA or a line end to normalise.
    esc: bool,
}

/// The start tag being read: its name and attributes so far.
#[derive(Debug, Default)]
struct StartTag {
    name: (u32, u32),
    colon: Option<u32>,
    attrs: Vec<RawAttr>,
    /// Whitespace since the last attribute (required before the next).
    had_ws: bool,
    /// The tag has a prefixed attribute (declarations of prefixes
    /// included) or more than one `xmlns`, so it needs the full
    /// [`Framer::resolve_tag`].
    special: bool,
    /// Index in `attrs` of the tag's `xmlns` attribute, if any.
    decl: Option<u32>,
    /// Bits of the tag's attribute names (see `note_attr`), and whether two
    /// of them collided.
    seen: u64,
    maybe_dup: bool,
    /// The attribute being read: its name, quote and whether its value
    /// needs unescaping or normalising.
    attr_name: (u32, u32),
    attr_colon: Option<u32>,
    quote: u8,
    val_esc: bool,
}

/// The namespace bindings in scope, and the strings they own.
#[derive(Debug, Default)]
struct Namespaces {
    /// Declarations of the open elements, innermost last.
    bindings: Vec<Binding>,
    /// The stream header's declarations, the scope of every top-level element.
    base: Vec<BaseBinding>,
    /// The stream header's default namespace, given to every element built.
    default_ns: Option<Str>,
    /// The namespace of an unprefixed top-level element without
    /// declarations: the stream header's default (known once it is parsed).
    top_dflt: Option<NsRef>,
    /// Namespace URIs that had to be unescaped (`NsRef::owned` indexes it).
    owned: Vec<Str>,
}

/// What is recorded of the current top-level element to build its tree.
#[derive(Debug)]
struct Record {
    /// Record the events of the element's descendants (needed to build it
    /// as an [`Element`]); [`Framer::decode_raw`] needs only the root's, so
    /// it scans with this off.
    tree: bool,
    events: Vec<Ev>,
    attr_evs: Vec<AttrEv>,
}

/// What the prolog established.
#[derive(Debug, Default)]
struct Prolog {
    /// The XML declaration or the stream header was seen (a declaration
    /// may come only first).
    seen_token: bool,
    seen_bom: bool,
    /// The stream header's qualified name, which the stream close must match.
    header_qname: Vec<u8>,
}

/// Scratch for `build_tree`, kept for its capacity.
#[derive(Debug, Default)]
struct TreeScratch {
    /// Child indices from the root to the open element.
    path: Vec<u32>,
    /// Final node count of each open element, root first.
    hints: Vec<u32>,
}

/// The decoding half of [`crate::StreamCodec`], usable on its own.
#[derive(Debug)]
pub struct Framer {
    limits: Limits,
    next_limits: Option<Limits>,
    phase: Phase,
    cur: Cursor,
    text: TextRun,
    tag: StartTag,
    /// Open elements inside the current top-level element.
    depth: usize,
    open: Vec<Open>,
    scope: Namespaces,
    rec: Record,
    prolog: Prolog,
    scratch: TreeScratch,
    /// The top-level element's start tag, for `decode_raw` and
    /// `decode_borrowed` (which record no events), and its namespace.
    root: RootTag,
    root_ns: NsRef,
    /// Bytes at the front of the buffer that are decoded but still there:
    /// elements [`Framer::decode_borrowed`] handed out and the whitespace
    /// after them. The current element starts here.
    pending: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(Limits::default())
    }
}

macro_rules! bail {
    ($e:expr) => {
        return Err($e)
    };
}

impl Framer {
    /// A framer expecting a stream header, with the given limits.
    pub fn new(limits: Limits) -> Self {
        Framer {
            limits,
            next_limits: None,
            phase: Phase::Prolog,
            cur: Cursor {
                lex: Lex::Between,
                pos: 0,
                tok: 0,
                tag_start: 0,
                ref_start: 0,
                ref_in_attr: false,
                cdata_match: 0,
            },
            text: TextRun {
                start: NONE,
                esc: false,
            },
            tag: StartTag::default(),
            depth: 0,
            open: Vec::new(),
            scope: Namespaces::default(),
            rec: Record {
                tree: true,
                events: Vec::new(),
                attr_evs: Vec::new(),
            },
            prolog: Prolog::default(),
            scratch: TreeScratch::default(),
            root: RootTag::default(),
            root_ns: NsRef::default(),
            pending: 0,
        }
    }

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
        let mut path = std::mem::take(&mut self.scratch.path);
        path.clear();
        let pending = self.pending;
        *self = Framer::new(limits);
        self.scratch.path = path;
        self.pending = pending;
    }

    /// Whether `</stream:stream>` has been decoded.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
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
                ns: self.ns_str_in(&buf, self.root_ns),
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
    /// must not lose them before then (appending to it is fine).
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
                    ns: me.ns_in(bytes, me.root_ns),
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
            // the events a tree needs, `decode` what `decode_raw` keeps of
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

    /// Someone removed bytes we had already examined (or had to remove).
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

    fn begin_element(&mut self) {
        if let Some(l) = self.next_limits.take() {
            self.limits = l;
        }
        self.rec.events.clear();
        self.rec.attr_evs.clear();
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

    #[inline(always)]
    fn flush_text(&mut self) {
        if self.rec.tree && self.text.start != NONE && self.cur.tag_start > self.text.start {
            if let Some(o) = self.open.last_mut() {
                o.nodes += 1;
            }
            self.rec.events.push(Ev::Text {
                span: (self.text.start as u32, self.cur.tag_start as u32),
                esc: self.text.esc,
            });
        }
        self.text.start = NONE;
        self.text.esc = false;
    }

    /// Scan `d` (the current element's bytes so far, capped at the size limit)
    /// from `self.cur.pos`. `None` = needs more bytes.
    fn run(&mut self, d: &[u8]) -> Result<Option<Done>, XmlError> {
        let n = d.len();
        let mut pos = self.cur.pos;
        let max_name = self.limits.max_name_len;
        // Constructs handled by a method report where to go on.
        macro_rules! flow {
            ($l:lifetime, $e:expr) => {
                match $e {
                    Flow::Go(p) => {
                        pos = p;
                        continue $l;
                    }
                    Flow::More(p) => {
                        pos = p;
                        break $l None;
                    }
                    Flow::Done(p, done) => {
                        pos = p;
                        break $l Some(done);
                    }
                }
            };
        }
        let res = 'scan: loop {
            match self.cur.lex {
                Lex::Between => break None,
                Lex::Content => {
                    // Text up to the next tag in one pass, no memchr: plain
                    // ASCII is skipped a word at a time, and what stops it
                    // (a reference, a line end, a UTF-8 sequence) is checked
                    // on the spot, as the states `Ref` and `check_run` would.
                    // Long runs, and a reference or UTF-8 sequence cut off
                    // by the end of the input, go on below.
                    let cap = n.min(pos.saturating_add(TEXT_INLINE));
                    let k = loop {
                        // A reference or UTF-8 sequence may end past `cap`.
                        if pos >= cap {
                            break pos;
                        }
                        let k = pos + plain_run(&d[pos..cap], b'<', b'&', b'>');
                        if k >= cap {
                            break k;
                        }
                        match d[k] {
                            b'<' => break k,
                            b'&' => {
                                let mut j = k + 1;
                                loop {
                                    let Some(&c) = d.get(j) else {
                                        self.cur.ref_start = k;
                                        self.cur.ref_in_attr = false;
                                        self.text.esc = true;
                                        self.cur.lex = Lex::Ref;
                                        pos = j;
                                        continue 'scan;
                                    };
                                    if c == b';' {
                                        check_ref(&d[k + 1..j])?;
                                        break;
                                    }
                                    if !(is_name_char(c) || c == b'#') {
                                        bail!(XmlError::Syntax(
                                            "malformed entity or character reference"
                                        ));
                                    }
                                    j += 1;
                                    if j - k > MAX_REF {
                                        bail!(XmlError::Syntax("reference too long"));
                                    }
                                }
                                self.text.esc = true;
                                pos = j + 1;
                            }
                            b'>' => {
                                no_cdata_end(d, k)?;
                                pos = k + 1;
                            }
                            b'\n' | b'\t' => pos = k + 1,
                            b'\r' => {
                                self.text.esc = true;
                                pos = k + 1;
                            }
                            b if b >= 0x80 => match utf8_char(&d[k..]) {
                                Utf8::Char(w) => pos = k + w,
                                Utf8::Short => break k,
                                Utf8::Bad => bail!(XmlError::InvalidUtf8),
                                Utf8::NonChar(c) => bail!(XmlError::IllegalChar(c)),
                            },
                            b => bail!(XmlError::IllegalChar(u32::from(b))),
                        }
                    };
                    if k < n && d[k] == b'<' {
                        match d.get(k + 1) {
                            Some(&b) if is_name_start(b) => flow!('scan, self.start_tag(d, k)?),
                            Some(b'/') => {
                                // The end tag of the element this text is in.
                                self.cur.tag_start = k;
                                self.flush_text();
                                let after = k + 2 + self.open_name_len();
                                if after < n && d[after] == b'>' && self.open_name_is(d, k + 2) {
                                    pos = after + 1;
                                    if let Some(done) = self.end_tag(pos) {
                                        break Some(done);
                                    }
                                    continue;
                                }
                                // Anything else: as the state machine does.
                                self.cur.lex = Lex::Lt;
                                pos = k + 1;
                                continue;
                            }
                            _ => {}
                        }
                        self.cur.tag_start = k;
                        self.cur.lex = Lex::Lt;
                        pos = k + 1;
                        continue;
                    }
                    // Anything else goes on from `k` exactly as if scanned
                    // here: the bytes before it are plain ASCII.
                    pos = k;
                    match memchr::memchr3(b'<', b'&', b'>', &d[pos..]) {
                        Some(i) => {
                            let r = check_run(&d[pos..pos + i], false, true)?;
                            self.text.esc |= r.needs_norm;
                            pos += i;
                            if d[pos] == b'>' {
                                no_cdata_end(d, pos)?;
                            } else if d[pos] == b'<' {
                                self.cur.tag_start = pos;
                                self.cur.lex = Lex::Lt;
                            } else {
                                self.cur.ref_start = pos;
                                self.cur.ref_in_attr = false;
                                self.text.esc = true;
                                self.cur.lex = Lex::Ref;
                            }
                            pos += 1;
                        }
                        None => {
                            let r = check_run(&d[pos..], false, false)?;
                            self.text.esc |= r.needs_norm;
                            pos += r.valid;
                            break None;
                        }
                    }
                }
                Lex::Lt => {
                    let Some(&b) = d.get(pos) else { break None };
                    if b == b'/' {
                        if self.phase == Phase::Prolog {
                            bail!(XmlError::Syntax("end tag before the stream header"));
                        }
                        self.flush_text();
                        pos += 1;
                        // Common case: the expected name, then '>' or
                        // whitespace, all here. That is what the name loop
                        // would find (the name was validated at its start
                        // tag), without going through it. Otherwise the
                        // name is scanned from its first byte: bounded by
                        // max_name_len.
                        let expected: &[u8] = match self.open.last() {
                            Some(o) => &d[o.name.0 as usize..o.name.1 as usize],
                            None => &self.prolog.header_qname,
                        };
                        let after = pos + expected.len();
                        if after < n && same(&d[pos..after], expected) {
                            if d[after] == b'>' {
                                pos = after + 1;
                                if let Some(done) = self.end_tag(pos) {
                                    break Some(done);
                                }
                                continue;
                            }
                            if is_ws(d[after]) {
                                pos = after;
                                self.cur.lex = Lex::EndTail;
                                continue;
                            }
                        }
                        self.cur.tok = pos;
                        self.cur.lex = Lex::EndName;
                    } else if is_name_start(b) {
                        // The `<` is the byte before.
                        flow!('scan, self.start_tag(d, pos - 1)?);
                    } else if b == b'!' {
                        pos += 1;
                        self.cur.lex = Lex::Bang;
                    } else if b == b'?' {
                        if self.phase == Phase::Prolog && !self.prolog.seen_token {
                            pos += 1;
                            self.cur.lex = Lex::Question;
                        } else {
                            bail!(XmlError::Restricted("processing instructions"));
                        }
                    } else {
                        bail!(XmlError::Syntax("invalid character after '<'"));
                    }
                }
                Lex::StartName | Lex::AttrName | Lex::EndName => {
                    let lim = n.min(self.cur.tok.saturating_add(max_name).saturating_add(1));
                    // While skipping the name, note what check_qname would
                    // otherwise find in a second pass: colons and non-ASCII.
                    let from = pos;
                    let NameRun {
                        end,
                        colons,
                        colon,
                        high,
                    } = scan_name(d, pos, lim);
                    pos = end;
                    if pos - self.cur.tok > max_name {
                        bail!(XmlError::NameTooLong { limit: max_name });
                    }
                    if pos >= n {
                        break None;
                    }
                    let name = &d[self.cur.tok..pos];
                    let first = d[self.cur.tok];
                    let fast = (from == self.cur.tok + 1 || from == self.cur.tok)
                        && !high
                        && first < 0x80
                        && first != b':'
                        && is_name_start(first);
                    let colon = if fast {
                        // All of the name was seen in this pass and is ASCII:
                        // the class table vetted every byte, the first is a
                        // name-start byte; only the colon rules remain.
                        match colons {
                            0 => None,
                            1 if colon + 1 < pos && is_name_start(d[colon + 1]) => {
                                Some(colon as u32)
                            }
                            _ => bail!(XmlError::InvalidName(
                                String::from_utf8_lossy(name).into_owned()
                            )),
                        }
                    } else {
                        match check_qname(name) {
                            QName::Ok { colon } => colon.map(|c| (self.cur.tok + c) as u32),
                            QName::BadUtf8 => bail!(XmlError::InvalidUtf8),
                            QName::Invalid => bail!(XmlError::InvalidName(
                                String::from_utf8_lossy(name).into_owned()
                            )),
                        }
                    };
                    let span = (self.cur.tok as u32, pos as u32);
                    let b = d[pos];
                    match self.cur.lex {
                        Lex::StartName => {
                            self.tag_named(span, colon);
                            if is_ws(b) {
                                self.tag.had_ws = true;
                                self.cur.lex = Lex::InTag;
                            } else if b == b'>' {
                                pos += 1;
                                if let Some(done) = self.finish_start(d, pos, false)? {
                                    break Some(done);
                                }
                            } else if b == b'/' {
                                pos += 1;
                                self.cur.lex = Lex::EmptyEnd;
                            } else {
                                bail!(XmlError::Syntax("invalid character in element name"));
                            }
                        }
                        Lex::AttrName => {
                            self.tag.attr_name = span;
                            self.tag.attr_colon = colon;
                            if b == b'=' {
                                pos += 1;
                                self.cur.lex = Lex::AttrQuote;
                            } else if is_ws(b) {
                                self.cur.lex = Lex::AttrEq;
                            } else {
                                bail!(XmlError::Syntax("expected '=' after attribute name"));
                            }
                        }
                        _ => {
                            let expected: &[u8] = match self.open.last() {
                                Some(o) => &d[o.name.0 as usize..o.name.1 as usize],
                                None => &self.prolog.header_qname,
                            };
                            if !same(name, expected) {
                                bail!(XmlError::MismatchedEndTag {
                                    expected: String::from_utf8_lossy(expected).into_owned(),
                                    found: String::from_utf8_lossy(name).into_owned(),
                                });
                            }
                            self.cur.lex = Lex::EndTail;
                        }
                    }
                }
                Lex::InTag => flow!('scan, self.in_tag(d, pos)?),
                Lex::AttrEq => {
                    while pos < n && is_ws(d[pos]) {
                        pos += 1;
                    }
                    let Some(&b) = d.get(pos) else { break None };
                    if b != b'=' {
                        bail!(XmlError::Syntax("expected '=' after attribute name"));
                    }
                    pos += 1;
                    self.cur.lex = Lex::AttrQuote;
                }
                Lex::AttrQuote => {
                    while pos < n && is_ws(d[pos]) {
                        pos += 1;
                    }
                    let Some(&b) = d.get(pos) else { break None };
                    if b != b'\'' && b != b'"' {
                        bail!(XmlError::Syntax("expected a quoted attribute value"));
                    }
                    self.tag.quote = b;
                    pos += 1;
                    self.cur.tok = pos;
                    self.tag.val_esc = false;
                    self.cur.lex = Lex::AttrValue;
                }
                Lex::AttrValue => match memchr::memchr3(self.tag.quote, b'&', b'<', &d[pos..]) {
                    Some(i) => {
                        let r = check_run(&d[pos..pos + i], true, true)?;
                        self.tag.val_esc |= r.needs_norm;
                        pos += i;
                        let b = d[pos];
                        if b == self.tag.quote {
                            let value = (self.cur.tok as u32, pos as u32);
                            self.push_attr(d, self.tag.attr_name, self.tag.attr_colon, value, self.tag.val_esc);
                            self.tag.had_ws = false;
                            self.cur.lex = Lex::InTag;
                        } else if b == b'&' {
                            self.cur.ref_start = pos;
                            self.cur.ref_in_attr = true;
                            self.tag.val_esc = true;
                            self.cur.lex = Lex::Ref;
                        } else {
                            bail!(XmlError::Syntax("'<' in attribute value"));
                        }
                        pos += 1;
                    }
                    None => {
                        let r = check_run(&d[pos..], true, false)?;
                        self.tag.val_esc |= r.needs_norm;
                        pos += r.valid;
                        break None;
                    }
                },
                Lex::Ref => {
                    let Some(&b) = d.get(pos) else { break None };
                    if b == b';' {
                        check_ref(&d[self.cur.ref_start + 1..pos])?;
                        pos += 1;
                        self.cur.lex = if self.cur.ref_in_attr {
                            Lex::AttrValue
                        } else {
                            Lex::Content
                        };
                    } else if is_name_char(b) || b == b'#' {
                        pos += 1;
                        if pos - self.cur.ref_start > MAX_REF {
                            bail!(XmlError::Syntax("reference too long"));
                        }
                    } else {
                        bail!(XmlError::Syntax("malformed entity or character reference"));
                    }
                }
                Lex::EmptyEnd => {
                    let Some(&b) = d.get(pos) else { break None };
                    if b != b'>' {
                        bail!(XmlError::Syntax("expected '>' after '/'"));
                    }
                    pos += 1;
                    if let Some(done) = self.finish_start(d, pos, true)? {
                        break Some(done);
                    }
                }
                Lex::EndTail => {
                    while pos < n && is_ws(d[pos]) {
                        pos += 1;
                    }
                    let Some(&b) = d.get(pos) else { break None };
                    if b != b'>' {
                        bail!(XmlError::Syntax("expected '>' in end tag"));
                    }
                    pos += 1;
                    if let Some(done) = self.end_tag(pos) {
                        break Some(done);
                    }
                }
                Lex::Bang => {
                    let Some(&b) = d.get(pos) else { break None };
                    match b {
                        b'-' => bail!(XmlError::Restricted("comments")),
                        b'D' => bail!(XmlError::Restricted("document type declarations")),
                        b'[' if self.depth > 0 => {
                            pos += 1;
                            self.cur.cdata_match = 1;
                            self.cur.lex = Lex::CdataOpen;
                        }
                        _ => bail!(XmlError::Syntax("invalid markup after '<!'")),
                    }
                }
                Lex::CdataOpen => {
                    const OPEN: &[u8] = b"[CDATA[";
                    let Some(&b) = d.get(pos) else { break None };
                    if OPEN.get(self.cur.cdata_match as usize) != Some(&b) {
                        bail!(XmlError::Syntax("invalid markup after '<!['"));
                    }
                    pos += 1;
                    self.cur.cdata_match += 1;
                    if self.cur.cdata_match as usize == OPEN.len() {
                        self.cur.tok = pos;
                        self.text.esc = true;
                        self.cur.lex = Lex::Cdata;
                    }
                }
                Lex::Cdata => match memchr::memchr(b'>', &d[pos..]) {
                    Some(i) => {
                        let p = pos + i;
                        check_run(&d[pos..=p], false, true)?;
                        pos = p + 1;
                        if p >= self.cur.tok + 2 && d[p - 2] == b']' && d[p - 1] == b']' {
                            self.cur.lex = Lex::Content;
                        }
                    }
                    None => {
                        let r = check_run(&d[pos..], false, false)?;
                        pos += r.valid;
                        break None;
                    }
                },
                Lex::Question => {
                    if n < pos + 4 {
                        break None;
                    }
                    if &d[pos..pos + 3] == b"xml" && is_ws(d[pos + 3]) {
                        pos += 4;
                        self.cur.lex = Lex::XmlDecl;
                    } else {
                        bail!(XmlError::Restricted("processing instructions"));
                    }
                }
                Lex::XmlDecl => match memchr::memchr(b'>', &d[pos..]) {
                    Some(i) => {
                        let p = pos + i;
                        pos = p + 1;
                        if d[p - 1] == b'?' {
                            // tag_start is 0: "<?xml " is 6 bytes.
                            parse_xml_decl(d.get(6..p - 1).unwrap_or(&[]))?;
                            self.prolog.seen_token = true;
                            break Some(Done::XmlDecl(pos));
                        }
                    }
                    None => {
                        pos = n;
                        break None;
                    }
                },
            }
        };
        self.cur.pos = pos;
        Ok(res)
    }

    /// The rest of a start tag from `pos` (state `InTag`): attributes, then
    /// `>` or `/>`.
    #[inline(always)]
    fn in_tag(&mut self, d: &[u8], mut pos: usize) -> Result<Flow, XmlError> {
        let n = d.len();
        loop {
            while pos < n && is_ws(d[pos]) {
                pos += 1;
                self.tag.had_ws = true;
            }
            let Some(&b) = d.get(pos) else {
                return Ok(Flow::More(pos));
            };
            if b == b'>' {
                pos += 1;
                return Ok(match self.finish_start(d, pos, false)? {
                    Some(done) => Flow::Done(pos, done),
                    None => Flow::Go(pos),
                });
            } else if b == b'/' {
                return self.empty_end(d, pos + 1);
            } else if is_name_start(b) {
                if !self.tag.had_ws {
                    bail!(XmlError::Syntax("missing whitespace before attribute"));
                }
                if self.tag.attrs.len() >= self.limits.max_attributes {
                    bail!(XmlError::TooManyAttributes {
                        limit: self.limits.max_attributes
                    });
                }
                match self.fast_attr(d, pos) {
                    Some(p) => {
                        pos = p;
                        if self.cur.lex != Lex::InTag {
                            return Ok(Flow::Go(pos));
                        }
                        self.tag.had_ws = false;
                    }
                    None => {
                        self.cur.tok = pos;
                        self.cur.lex = Lex::AttrName;
                        return Ok(Flow::Go(pos + 1));
                    }
                }
            } else {
                bail!(XmlError::Syntax("invalid character in tag"));
            }
        }
    }

    /// After the `/` of an empty-element tag, at `pos`.
    #[inline(always)]
    fn empty_end(&mut self, d: &[u8], pos: usize) -> Result<Flow, XmlError> {
        match d.get(pos) {
            Some(b'>') => Ok(match self.finish_start(d, pos + 1, true)? {
                Some(done) => Flow::Done(pos + 1, done),
                None => Flow::Go(pos + 1),
            }),
            Some(_) => bail!(XmlError::Syntax("expected '>' after '/'")),
            None => {
                self.cur.lex = Lex::EmptyEnd;
                Ok(Flow::More(pos))
            }
        }
    }

    /// A start tag whose `<` is at `lt`, followed by a name-start byte, as
    /// the states `Lt`, `StartName` and `InTag` would take it, without
    /// going through the dispatch between them. A name that is cut off,
    /// too long, not ASCII or invalid is left to `StartName` from its
    /// first byte (bounded by `max_name_len`).
    #[inline(always)]
    fn start_tag(&mut self, d: &[u8], lt: usize) -> Result<Flow, XmlError> {
        self.cur.tag_start = lt;
        self.flush_text();
        if self.phase == Phase::Stream && self.depth >= self.limits.max_depth {
            bail!(XmlError::TooDeep {
                limit: self.limits.max_depth
            });
        }
        let n = d.len();
        let tok = lt + 1;
        let max = self.limits.max_name_len;
        let lim = n.min(tok.saturating_add(max).saturating_add(1));
        let NameRun {
            end,
            colons,
            colon,
            high,
        } = scan_name(d, tok + 1, lim);
        let first = d[tok];
        let colon = match colons {
            0 => Some(None),
            1 if colon + 1 < end && is_name_start(d[colon + 1]) => Some(Some(colon as u32)),
            _ => None,
        };
        let colon = match colon {
            Some(c) if end < n && end - tok <= max && !high && first < 0x80 && first != b':' => c,
            _ => {
                self.cur.tok = tok;
                self.cur.lex = Lex::StartName;
                return Ok(Flow::Go(tok + 1));
            }
        };
        self.tag_named((tok as u32, end as u32), colon);
        let b = d[end];
        if b == b'>' {
            Ok(match self.finish_start(d, end + 1, false)? {
                Some(done) => Flow::Done(end + 1, done),
                None => Flow::Go(end + 1),
            })
        } else if is_ws(b) {
            self.tag.had_ws = true;
            self.cur.lex = Lex::InTag;
            self.in_tag(d, end)
        } else if b == b'/' {
            self.empty_end(d, end + 1)
        } else {
            bail!(XmlError::Syntax("invalid character in element name"));
        }
    }

    /// A start tag's name is read: record it and start the tag's attributes afresh.
    #[inline(always)]
    fn tag_named(&mut self, name: (u32, u32), colon: Option<u32>) {
        self.tag.name = name;
        self.tag.colon = colon;
        self.tag.attrs.clear();
        self.tag.seen = 0;
        self.tag.maybe_dup = false;
        self.tag.special = false;
        self.tag.decl = None;
    }

    /// Length of the qualified name the next end tag must have.
    #[inline(always)]
    fn open_name_len(&self) -> usize {
        match self.open.last() {
            Some(o) => (o.name.1 - o.name.0) as usize,
            None => self.prolog.header_qname.len(),
        }
    }

    /// Whether the qualified name the next end tag must have is at `at`
    /// (which has room for it).
    #[inline(always)]
    fn open_name_is(&self, d: &[u8], at: usize) -> bool {
        let expected: &[u8] = match self.open.last() {
            Some(o) => &d[o.name.0 as usize..o.name.1 as usize],
            None => &self.prolog.header_qname,
        };
        same(&d[at..at + expected.len()], expected)
    }

    /// An attribute of the current start tag, scanned to its closing quote.
    /// Without a tree, the root's are also kept for `RawElement::attr`
    /// right away: those it can find are the unprefixed ones but `xmlns`,
    /// and `xml:lang`. (A tag with other prefixed attributes is special;
    /// `finish_start` then keeps them again from the resolved ones.)
    #[inline(always)]
    fn push_attr(
        &mut self,
        d: &[u8],
        name: (u32, u32),
        colon: Option<u32>,
        value: (u32, u32),
        esc: bool,
    ) {
        self.note_attr(d, name, colon);
        self.tag.attrs.push(RawAttr {
            name,
            colon,
            value,
            esc,
        });
        if !self.rec.tree && self.depth == 0 {
            let q = &d[name.0 as usize..name.1 as usize];
            let listed = match colon {
                None => q != b"xmlns",
                Some(_) => q == b"xml:lang",
            };
            if listed {
                self.root_attr(name, value, esc);
            }
        }
    }

    /// Classify an attribute about to be pushed onto `cur_attrs`: the
    /// common tag has unprefixed attributes, `xml:` ones (that prefix is
    /// bound to one namespace for good) and at most one `xmlns`.
    #[inline(always)]
    fn note_attr(&mut self, d: &[u8], name: (u32, u32), colon: Option<u32>) {
        let q = &d[name.0 as usize..name.1 as usize];
        // A 64-bit filter of the names seen in this tag: the pairwise
        // duplicate search runs only when two names share a bit.
        let h = q.len() as u32 * 7 + u32::from(q[0]) + u32::from(q[q.len() - 1]) * 3;
        let bit = 1u64 << (h & 63);
        self.tag.maybe_dup |= self.tag.seen & bit != 0;
        self.tag.seen |= bit;
        match colon {
            Some(c) if c - name.0 != 3 || &q[..3] != b"xml" => self.tag.special = true,
            Some(_) => {}
            None if q == b"xmlns" => {
                if self.tag.decl.is_some() {
                    self.tag.special = true;
                } else {
                    self.tag.decl = Some(self.tag.attrs.len() as u32);
                }
            }
            None => {}
        }
    }

    /// An end tag ended at `pos` (just after `>`).
    #[inline(always)]
    fn end_tag(&mut self, pos: usize) -> Option<Done> {
        if self.depth == 0 {
            return Some(Done::Close(pos));
        }
        if let Some(o) = self.open.pop() {
            self.scope.bindings.truncate(o.mark as usize);
            if self.rec.tree {
                self.rec.events.push(Ev::End);
                if let Some(Ev::Start { nodes, .. }) = self.rec.events.get_mut(o.ev as usize) {
                    *nodes = o.nodes;
                }
            }
        }
        self.depth -= 1;
        if self.depth == 0 {
            return Some(Done::Element(pos));
        }
        self.text.start = pos;
        self.cur.lex = Lex::Content;
        None
    }

    /// The common attribute, `name='plain ASCII value'`, in one pass with
    /// its state in locals. `None`: not that shape (or the name is cut off
    /// by the end of the input); nothing was changed and the state machine
    /// parses the attribute from its first byte (a name is at most
    /// `max_name_len` bytes, so that re-look is bounded). `Some(p)`: the
    /// attribute was recorded and `p` is past its closing quote (state
    /// stays `InTag`), or its value needs the general path from `p` and the
    /// state is exactly what `AttrValue` would have at `p`.
    #[inline(always)]
    fn fast_attr(&mut self, d: &[u8], start: usize) -> Option<usize> {
        let n = d.len();
        let max = self.limits.max_name_len;
        let lim = n.min(start.saturating_add(max).saturating_add(1));
        let NameRun {
            end: p,
            colons,
            colon,
            high,
        } = scan_name(d, start, lim);
        if p + 1 >= n || p - start > max || high || d[p] != b'=' {
            return None;
        }
        // The first byte is a name-start byte (checked by the caller); only
        // the colon rules remain, as in the general path.
        let colon = match colons {
            0 => None,
            1 if colon != start && colon + 1 < p && is_name_start(d[colon + 1]) => {
                Some(colon as u32)
            }
            _ => return None,
        };
        let q = d[p + 1];
        if q != b'\'' && q != b'"' {
            return None;
        }
        let vs = p + 2;
        let k = vs + plain_run(&d[vs..], q, b'&', b'<');
        if k < n && d[k] == q {
            self.push_attr(
                d,
                (start as u32, p as u32),
                colon,
                (vs as u32, k as u32),
                false,
            );
            return Some(k + 1);
        }
        self.tag.attr_name = (start as u32, p as u32);
        self.tag.attr_colon = colon;
        self.tag.quote = q;
        self.cur.tok = vs;
        self.tag.val_esc = false;
        self.cur.lex = Lex::AttrValue;
        Some(k)
    }

    fn lookup(&mut self, d: &[u8], prefix: &[u8]) -> Option<NsRef> {
        for b in self.scope.bindings.iter().rev() {
            if (b.prefix.1 - b.prefix.0) as usize == prefix.len()
                && same(&d[b.prefix.0 as usize..b.prefix.1 as usize], prefix)
            {
                return Some(b.uri);
            }
        }
        for (i, b) in self.scope.base.iter().enumerate().rev() {
            if same(&b.prefix, prefix) {
                return Some(NsRef::base(i as u32));
            }
        }
        if prefix == b"xml" {
            return Some(NsRef::XML);
        }
        None
    }

    fn ns_bytes<'a>(&'a self, d: &'a [u8], r: NsRef) -> &'a [u8] {
        match r.get() {
            Ns::Span(a, b) => &d[a as usize..b as usize],
            Ns::Owned(i) => match self.scope.owned.get(i as usize) {
                Some(s) => s.get(&EMPTY).as_bytes(),
                None => b"",
            },
            Ns::Base(i) => match self.scope.base.get(i as usize) {
                Some(b) => b.uri.get(&EMPTY).as_bytes(),
                None => b"",
            },
            Ns::Xml => ns::XML.as_bytes(),
        }
    }

    fn value_ref(&mut self, d: &[u8], esc: bool, value: (u32, u32)) -> NsRef {
        if esc {
            let s = unescape(&d[value.0 as usize..value.1 as usize], true);
            let idx = self.scope.owned.len() as u32;
            self.scope.owned.push(Str::owned(&s));
            NsRef::owned(idx)
        } else {
            NsRef::span(value.0, value.1)
        }
    }

    /// A start tag ended at `pos` (just after `>`).
    #[inline(always)]
    fn finish_start(
        &mut self,
        d: &[u8],
        pos: usize,
        empty: bool,
    ) -> Result<Option<Done>, XmlError> {
        let mark = self.scope.bindings.len();
        // Without a tree to build, no events are recorded: only what
        // `decode_raw` hands out about the root is kept, in `root`.
        let record = self.rec.tree;
        // The two paths do not merge before `open_element`: a merged
        // (namespace, range) pair went through the stack in pieces and was
        // read back whole, a store-forwarding stall on every start tag.
        if self.tag.special || self.phase == Phase::Prolog {
            let attrs = std::mem::take(&mut self.tag.attrs);
            let resolved = self.resolve_tag(d, &attrs);
            self.tag.attrs = attrs;
            let (ns, attr_range) = resolved?;
            if self.phase == Phase::Prolog {
                return self.finish_header(d, ns, attr_range, pos, empty).map(Some);
            }
            if !record {
                // The root's attributes, kept by `push_attr` before their
                // prefixes were resolved, are kept again from the resolved ones.
                if self.depth == 0 {
                    self.root.n_inline = 0;
                    self.root.inline_esc = 0;
                    for i in attr_range.0..attr_range.1 {
                        let a = self.rec.attr_evs[i as usize];
                        // `attr` finds unprefixed names and `xml:lang`.
                        let qname = match a.prefix {
                            None => a.name,
                            Some(p)
                                if &d[a.name.0 as usize..a.name.1 as usize] == b"lang"
                                    && &d[p.0 as usize..p.1 as usize] == b"xml" =>
                            {
                                (p.0, a.name.1)
                            }
                            Some(_) => continue,
                        };
                        if !self.root_attr(qname, a.value, a.esc) {
                            break;
                        }
                    }
                }
                self.rec.attr_evs.truncate(attr_range.0 as usize);
            }
            return Ok(self.open_element(pos, empty, ns, attr_range, mark, record));
        }
        // The root's attributes were kept as they were pushed (`push_attr`).
        let (ns, attr_range) = self.resolve_plain(d, record)?;
        Ok(self.open_element(pos, empty, ns, attr_range, mark, record))
    }

    /// Keep one of the root's attributes for [`RawElement::attr`];
    /// `false` once they do not all fit (it then re-reads the tag).
    #[inline(always)]
    fn root_attr(&mut self, qname: (u32, u32), value: (u32, u32), esc: bool) -> bool {
        let r = &mut self.root;
        match r.inline.get_mut(r.n_inline as usize) {
            // Spans are 16-bit: every one ends inside the start tag.
            Some(slot) if value.1 <= u32::from(u16::MAX) => {
                *slot = RootAttr {
                    qname: (qname.0 as u16, qname.1 as u16),
                    value: (value.0 as u16, value.1 as u16),
                };
                r.inline_esc |= u32::from(esc) << r.n_inline;
                r.n_inline += 1;
                true
            }
            _ => {
                r.n_inline = u32::MAX;
                false
            }
        }
    }

    /// Record a start tag whose namespace and attributes are resolved.
    #[inline(always)]
    fn open_element(
        &mut self,
        pos: usize,
        empty: bool,
        ns: NsRef,
        attr_range: (u32, u32),
        mark: usize,
        record: bool,
    ) -> Option<Done> {
        let name = match self.tag.colon {
            Some(c) => (c + 1, self.tag.name.1),
            None => self.tag.name,
        };
        if self.depth == 0 {
            let end = pos - if empty { 2 } else { 1 };
            self.root.attrs = (self.tag.name.1, end as u32);
            self.root.name = name;
            self.root_ns = ns;
        }
        let ev = self.rec.events.len() as u32;
        if record {
            if let Some(o) = self.open.last_mut() {
                o.nodes += 1;
            }
            self.rec.events.push(Ev::Start {
                name,
                ns,
                attrs: attr_range,
                nodes: 0,
            });
        }
        if empty {
            if record {
                self.rec.events.push(Ev::End);
            }
            self.scope.bindings.truncate(mark);
            if self.depth == 0 {
                return Some(Done::Element(pos));
            }
        } else {
            self.open.push(Open {
                name: self.tag.name,
                mark: mark as u32,
                ev,
                nodes: 0,
                dflt: match self.tag.colon {
                    None => Some(ns),
                    Some(_) => None,
                },
            });
            self.depth += 1;
        }
        self.text.start = pos;
        self.text.esc = false;
        self.cur.lex = Lex::Content;
        None
    }

    /// [`Framer::resolve_tag`] for the common tag (see
    /// [`Framer::note_attr`]): at most the default namespace is bound, and
    /// attributes are in no namespace or the `xml` one, where equal
    /// qualified names are exactly the duplicates. Same checks, in the same
    /// order.
    #[inline(always)]
    fn resolve_plain(&mut self, d: &[u8], record: bool) -> Result<(NsRef, (u32, u32)), XmlError> {
        let decl = match self.tag.decl.and_then(|i| self.tag.attrs.get(i as usize)) {
            Some(a) => {
                // No other attribute can be named `xmlns`, so no duplicate;
                // the empty prefix is not `xml`, so only the URI is checked.
                // Fields are read one by one: copying the whole attribute,
                // just pushed in pieces, stalled on store forwarding.
                let (at, value, esc) = (a.name.0, a.value, a.esc);
                let (uri, ub) = if esc {
                    let uri = self.value_ref(d, esc, value);
                    (uri, self.ns_bytes(d, uri))
                } else {
                    (
                        NsRef::span(value.0, value.1),
                        &d[value.0 as usize..value.1 as usize],
                    )
                };
                if same(ub, ns::XML.as_bytes()) {
                    bail!(XmlError::BadNamespaceDecl(
                        "the xml prefix and namespace belong only to each other"
                    ));
                }
                if same(ub, ns::XMLNS.as_bytes()) {
                    bail!(XmlError::BadNamespaceDecl(
                        "the xmlns namespace cannot be declared"
                    ));
                }
                self.scope.bindings.push(Binding {
                    prefix: (at, at),
                    uri,
                });
                Some(uri)
            }
            None => None,
        };
        let inherited = match (self.tag.colon, decl) {
            (None, None) => match self.open.last() {
                Some(o) => o.dflt,
                None => self.scope.top_dflt,
            },
            _ => None,
        };
        let ns = match (self.tag.colon, decl, inherited) {
            (None, Some(uri), _) => uri,
            (_, _, Some(r)) => r,
            _ => {
                let (prefix, _) = split(d, self.tag.name, self.tag.colon);
                match self.lookup(d, prefix) {
                    Some(r) => r,
                    None if prefix.is_empty() => NsRef::span(0, 0),
                    None => bail!(undeclared(prefix)),
                }
            }
        };
        let skip = self.tag.decl.map_or(usize::MAX, |i| i as usize);
        let start = self.rec.attr_evs.len();
        if self.tag.maybe_dup {
            for (i, a) in self.tag.attrs.iter().enumerate() {
                let qname = &d[a.name.0 as usize..a.name.1 as usize];
                for prev in &self.tag.attrs[..i] {
                    if same(&d[prev.name.0 as usize..prev.name.1 as usize], qname) {
                        bail!(duplicate(qname));
                    }
                }
            }
        }
        if !record {
            return Ok((ns, (start as u32, start as u32)));
        }
        for (i, a) in self.tag.attrs.iter().enumerate() {
            if i == skip {
                continue;
            }
            let (prefix, name, ns) = match a.colon {
                None => (None, a.name, None),
                Some(c) => (Some((a.name.0, c)), (c + 1, a.name.1), Some(NsRef::XML)),
            };
            self.rec.attr_evs.push(AttrEv {
                prefix,
                name,
                ns,
                value: a.value,
                esc: a.esc,
            });
        }
        Ok((ns, (start as u32, self.rec.attr_evs.len() as u32)))
    }

    /// Bind declarations, resolve the element name and attributes.
    #[inline(never)]
    fn resolve_tag(
        &mut self,
        d: &[u8],
        attrs: &[RawAttr],
    ) -> Result<(NsRef, (u32, u32)), XmlError> {
        for (i, a) in attrs.iter().enumerate() {
            let qname = &d[a.name.0 as usize..a.name.1 as usize];
            let prefix = match a.colon {
                None if qname == b"xmlns" => (a.name.0, a.name.0),
                Some(c) if &d[a.name.0 as usize..c as usize] == b"xmlns" => {
                    let p = (c + 1, a.name.1);
                    let pb = &d[p.0 as usize..p.1 as usize];
                    let v = &d[a.value.0 as usize..a.value.1 as usize];
                    if pb == b"xmlns" {
                        bail!(XmlError::BadNamespaceDecl(
                            "the xmlns prefix cannot be declared"
                        ));
                    }
                    if v.is_empty() {
                        bail!(XmlError::BadNamespaceDecl(
                            "a prefix cannot be bound to the empty namespace"
                        ));
                    }
                    p
                }
                _ => continue,
            };
            // Duplicate declarations are duplicate attributes.
            for b in &attrs[..i] {
                if same(&d[b.name.0 as usize..b.name.1 as usize], qname) {
                    bail!(duplicate(qname));
                }
            }
            let uri = self.value_ref(d, a.esc, a.value);
            let ub = self.ns_bytes(d, uri);
            let is_xml_prefix = &d[prefix.0 as usize..prefix.1 as usize] == b"xml";
            if same(ub, ns::XML.as_bytes()) != is_xml_prefix {
                bail!(XmlError::BadNamespaceDecl(
                    "the xml prefix and namespace belong only to each other"
                ));
            }
            if same(ub, ns::XMLNS.as_bytes()) {
                bail!(XmlError::BadNamespaceDecl(
                    "the xmlns namespace cannot be declared"
                ));
            }
            self.scope.bindings.push(Binding { prefix, uri });
        }
        let (prefix, _) = split(d, self.tag.name, self.tag.colon);
        let ns = match self.lookup(d, prefix) {
            Some(r) => r,
            None if prefix.is_empty() => NsRef::span(0, 0),
            None => bail!(undeclared(prefix)),
        };
        let start = self.rec.attr_evs.len();
        for a in attrs {
            let qname = &d[a.name.0 as usize..a.name.1 as usize];
            let (ans, pspan, local) = match a.colon {
                None if qname == b"xmlns" => continue,
                None => (None, None, a.name),
                Some(c) => {
                    let p = &d[a.name.0 as usize..c as usize];
                    if p == b"xmlns" {
                        continue;
                    }
                    let r = match self.lookup(d, p) {
                        Some(r) => r,
                        None => bail!(undeclared(p)),
                    };
                    (Some(r), Some((a.name.0, c)), (c + 1, a.name.1))
                }
            };
            let lb = &d[local.0 as usize..local.1 as usize];
            for prev in &self.rec.attr_evs[start..] {
                if same(&d[prev.name.0 as usize..prev.name.1 as usize], lb) {
                    let same_ns = match (prev.ns, ans) {
                        (None, None) => true,
                        (Some(x), Some(y)) => same(self.ns_bytes(d, x), self.ns_bytes(d, y)),
                        _ => false,
                    };
                    if same_ns {
                        bail!(duplicate(qname));
                    }
                }
            }
            self.rec.attr_evs.push(AttrEv {
                prefix: pspan,
                name: local,
                ns: ans,
                value: a.value,
                esc: a.esc,
            });
        }
        Ok((ns, (start as u32, self.rec.attr_evs.len() as u32)))
    }

    #[cold]
    #[inline(never)]
    fn finish_header(
        &mut self,
        d: &[u8],
        ns_ref: NsRef,
        range: (u32, u32),
        pos: usize,
        empty: bool,
    ) -> Result<Done, XmlError> {
        if empty {
            bail!(XmlError::HeaderSelfClosed);
        }
        let text = |r: NsRef, me: &Self| String::from_utf8_lossy(me.ns_bytes(d, r)).into_owned();
        let (_, local) = split(d, self.tag.name, self.tag.colon);
        let mut h = StreamHeader {
            stream_ns: text(ns_ref, self),
            name: String::from_utf8_lossy(local).into_owned(),
            ..StreamHeader::default()
        };
        for a in &self.rec.attr_evs[range.0 as usize..range.1 as usize] {
            let local = &d[a.name.0 as usize..a.name.1 as usize];
            let raw = &d[a.value.0 as usize..a.value.1 as usize];
            let v = if a.esc {
                unescape(raw, true)
            } else {
                String::from_utf8_lossy(raw).into_owned()
            };
            match a.ns {
                None => match local {
                    b"to" => h.to = Some(v),
                    b"from" => h.from = Some(v),
                    b"id" => h.id = Some(v),
                    b"version" => h.version = Some(v),
                    _ => {}
                },
                Some(n) if self.ns_bytes(d, n) == ns::XML.as_bytes() && local == b"lang" => {
                    h.lang = Some(v)
                }
                Some(_) => {}
            }
        }
        // The header's declarations become the base scope of every stanza.
        let mut base = Vec::new();
        for b in &self.scope.bindings {
            let prefix: Box<[u8]> = d[b.prefix.0 as usize..b.prefix.1 as usize].into();
            let uri = Str::owned(&String::from_utf8_lossy(self.ns_bytes(d, b.uri)));
            if prefix.is_empty() {
                h.default_ns = Some(uri.get(&EMPTY).to_owned());
            }
            base.push(BaseBinding { prefix, uri });
        }
        self.scope.default_ns = h.default_ns.as_deref().map(Str::owned);
        self.scope.base = base;
        self.prolog.header_qname = d[self.tag.name.0 as usize..self.tag.name.1 as usize].to_vec();
        self.scope.bindings.clear();
        // Only the header's bindings, now in `base`, are in scope.
        self.scope.top_dflt = Some(self.lookup(d, b"").unwrap_or(NsRef::span(0, 0)));
        self.phase = Phase::Stream;
        self.prolog.seen_token = true;
        self.depth = 0;
        Ok(Done::Header(Box::new(h), pos))
    }

    fn ns_str(&self, r: NsRef) -> Str {
        match r.get() {
            Ns::Span(a, b) if a == b => Str::Static(""),
            Ns::Span(a, b) => Str::Span(a, b),
            Ns::Owned(i) => self
                .scope
                .owned
                .get(i as usize)
                .cloned()
                .unwrap_or(Str::Static("")),
            Ns::Base(i) => self
                .scope
                .base
                .get(i as usize)
                .map(|b| b.uri.clone())
                .unwrap_or(Str::Static("")),
            Ns::Xml => Str::Static(ns::XML),
        }
    }

    /// The namespace `r` names, for an element whose bytes are `b`.
    fn ns_in<'a>(&'a self, b: &'a [u8], r: NsRef) -> &'a str {
        match r.get() {
            Ns::Span(x, y) => {
                let s = b.get(x as usize..y as usize).unwrap_or(b"");
                ns::well_known_bytes(s).unwrap_or_else(|| std::str::from_utf8(s).unwrap_or(""))
            }
            Ns::Owned(i) => self.scope.owned.get(i as usize).map_or("", |s| s.get(&EMPTY)),
            Ns::Base(i) => self.scope.base.get(i as usize).map_or("", |b| b.uri.get(&EMPTY)),
            Ns::Xml => ns::XML,
        }
    }

    fn ns_str_in(&self, buf: &Bytes, r: NsRef) -> Str {
        match r.get() {
            Ns::Span(a, b) => match ns::well_known_bytes(&buf[a as usize..b as usize]) {
                Some(s) => Str::Static(s),
                None => self.ns_str(r),
            },
            _ => self.ns_str(r),
        }
    }

    /// One attribute of the stanza, for the element model.
    #[inline(always)]
    fn make_attr(&self, buf: &Bytes, a: &AttrEv) -> Attr {
        // The common attribute on its own path, built with whole stores
        // (the general one below staged its parts on the stack and read
        // them back wider: a store-forwarding stall per attribute).
        if a.ns.is_none() && !a.esc {
            return Attr {
                name: Str::Span(a.name.0, a.name.1),
                value: Str::Span(a.value.0, a.value.1),
                qual: Qual::None,
            };
        }
        // The xml namespace goes only with the xml prefix (checked when
        // declarations are resolved).
        let qual = match (a.ns, a.prefix) {
            (Some(n), Some((x, y))) => {
                if matches!(n.get(), Ns::Xml) || self.ns_bytes(buf, n) == ns::XML.as_bytes() {
                    Qual::Xml
                } else {
                    Qual::Other(Box::new((self.ns_str_in(buf, n), Str::Span(x, y))))
                }
            }
            _ => Qual::None,
        };
        Attr {
            qual,
            name: Str::Span(a.name.0, a.name.1),
            value: if a.esc {
                Str::Shared(Arc::from(unescape(
                    &buf[a.value.0 as usize..a.value.1 as usize],
                    true,
                )))
            } else {
                Str::Span(a.value.0, a.value.1)
            },
        }
    }

    /// The start-tag bytes that hold the attributes `range` of `attr_evs`
    /// (non-empty): from the first one's name to the last one's closing
    /// quote. Declarations among them are skipped when they are read.
    #[inline(always)]
    fn tag_attrs(&self, range: (u32, u32)) -> AttrList {
        let (Some(first), Some(last)) = (
            self.rec.attr_evs.get(range.0 as usize),
            self.rec.attr_evs.get(range.1 as usize - 1),
        ) else {
            return AttrList::Empty;
        };
        let start = first.prefix.map_or(first.name.0, |p| p.0);
        AttrList::Tag(start, last.value.1 + 1)
    }

    /// `last_ns`: the namespace of the previous element built from this
    /// stanza, which most elements share with it.
    #[inline(always)]
    fn new_element(
        &self,
        buf: &Bytes,
        share: bool,
        ev: &Ev,
        all: Option<&Arc<[Attr]>>,
        from_tag: bool,
        last_ns: &mut (u64, Str),
    ) -> Element {
        let (name, ns, attrs) = match *ev {
            Ev::Start {
                name, ns, attrs, ..
            } => (name, ns, attrs),
            _ => ((0, 0), NsRef::span(0, 0), (0, 0)),
        };
        if last_ns.0 != ns.0 {
            *last_ns = (ns.0, self.ns_str_in(buf, ns));
        }
        Element {
            buf: if share { buf.clone() } else { Bytes::new() },
            name: Str::Span(name.0, name.1),
            ns: last_ns.1.clone(),
            default_ns: self.scope.default_ns.clone(),
            attrs: match all {
                _ if attrs.1 <= attrs.0 => AttrList::Empty,
                _ if from_tag => self.tag_attrs(attrs),
                Some(all) => AttrList::Shared(all.clone(), attrs.0, attrs.1),
                None => AttrList::Empty,
            },
            nodes: Nodes::Empty,
        }
    }

    fn build_root(&self, buf: Bytes) -> Element {
        let mut ns = NO_NS;
        match self.rec.events.first() {
            Some(ev) => self.new_element(&buf, true, ev, None, false, &mut ns),
            None => self.new_element(&buf, true, &Ev::End, None, false, &mut ns),
        }
    }

    fn build_tree(&mut self, buf: Bytes) -> Element {
        // Each element is moved once, into its parent's children (allocated
        // at their final size), and found again through `path` (child
        // indices from the root; stanzas are shallow) rather than kept on a
        // stack and moved again at its end tag.
        let mut path = std::mem::take(&mut self.scratch.path);
        path.clear();
        // Final node count of each open element, root first.
        let mut hints = std::mem::take(&mut self.scratch.hints);
        hints.clear();
        let mut root: Option<Element> = None;
        let mut last_ns = NO_NS;
        // Attributes live in one array shared by the stanza's elements,
        // unless only the root has any (small stanzas): then it owns them
        // and no reference count is touched.
        let root_only = match self.rec.events.first() {
            Some(Ev::Start { attrs, .. }) => attrs.1 as usize == self.rec.attr_evs.len(),
            _ => true,
        };
        // When no attribute of the stanza needs unescaping or has a namespace
        // other than `xml`, every element reads its attributes from its start
        // tag and nothing is built for them here.
        let from_tags = self.rec.attr_evs.iter().all(|a| {
            !a.esc
                && a.ns.map_or(true, |n| {
                    matches!(n.get(), Ns::Xml) || self.ns_bytes(&buf, n) == ns::XML.as_bytes()
                })
        });
        let all: Option<Arc<[Attr]>> = if from_tags || root_only || self.rec.attr_evs.is_empty() {
            None
        } else {
            Some(
                self.rec.attr_evs
                    .iter()
                    .map(|a| self.make_attr(&buf, a))
                    .collect(),
            )
        };
        for ev in &self.rec.events {
            match ev {
                Ev::Start { nodes, .. } => {
                    let hint = hints.last().copied().unwrap_or(0) as usize;
                    hints.push(*nodes);
                    match root.as_mut() {
                        None => {
                            // Built where it stays. It gets `buf` itself at
                            // the end: a clone now and a drop then would be
                            // two atomic reference-count updates for nothing.
                            let r = root.insert(self.new_element(
                                &buf,
                                false,
                                ev,
                                all.as_ref(),
                                from_tags,
                                &mut last_ns,
                            ));
                            if root_only && !from_tags && !self.rec.attr_evs.is_empty() {
                                r.attrs = AttrList::Own(
                                    self.rec.attr_evs
                                        .iter()
                                        .map(|a| self.make_attr(&buf, a))
                                        .collect(),
                                );
                            }
                        }
                        Some(r) => {
                            if let Some(parent) = descend(r, &path) {
                                path.push(parent.nodes.len() as u32);
                                let e = self.new_element(
                                    &buf,
                                    true,
                                    ev,
                                    all.as_ref(),
                                    from_tags,
                                    &mut last_ns,
                                );
                                parent.nodes.push(Node::Element(e), hint);
                            }
                        }
                    }
                }
                Ev::Text { span, esc } => {
                    if let Some(top) = root.as_mut().and_then(|r| descend(r, &path)) {
                        let t = if *esc {
                            Text::Escaped(span.0, span.1)
                        } else {
                            Text::Str(Str::Span(span.0, span.1))
                        };
                        let hint = hints.last().copied().unwrap_or(0) as usize;
                        top.nodes.push(Node::Text(t), hint);
                    }
                }
                Ev::End => {
                    path.pop();
                    hints.pop();
                }
            }
        }
        self.scratch.path = path;
        self.scratch.hints = hints;
        match root {
            Some(mut r) => {
                // The placeholder is `Bytes::new()`, which owns nothing:
                // forgetting it skips a call through its vtable to a no-op drop.
                std::mem::forget(std::mem::replace(&mut r.buf, buf));
                r
            }
            None => self.build_root(buf),
        }
    }
}

/// The element at `path` (child indices) below `e`.
fn descend<'a>(mut e: &'a mut Element, path: &[u32]) -> Option<&'a mut Element> {
    for &i in path {
        e = e.nodes.element_mut(i as usize)?;
    }
    Some(e)
}

static EMPTY: Bytes = Bytes::new();

/// No namespace built yet (no `NsRef` packs to all ones).
const NO_NS: (u64, Str) = (u64::MAX, Str::Static(""));

/// Where scanning goes on after a construct handled outside the dispatch loop.
enum Flow {
    /// At this position, in the state now in `self.cur.lex`.
    Go(usize),
    /// The input ends here; the state is saved.
    More(usize),
    /// A frame ended.
    Done(usize, Done),
}

enum Step {
    /// Boxed: it is rare, and an inline header would make every
    /// `Result<Option<Step>>` that carries an element 200 bytes to move.
    Header(Box<StreamHeader>),
    Element(Bytes),
    /// An element left in the buffer: its offset and length.
    Borrowed(usize, usize),
    Close,
}

fn split(d: &[u8], name: (u32, u32), colon: Option<u32>) -> (&[u8], &[u8]) {
    match colon {
        Some(c) => (
            &d[name.0 as usize..c as usize],
            &d[c as usize + 1..name.1 as usize],
        ),
        None => (&[], &d[name.0 as usize..name.1 as usize]),
    }
}

/// Errors are built out of line: their formatting would otherwise bloat
/// the stack frames of the hot functions that can raise them.
#[cold]
#[inline(never)]
fn undeclared(prefix: &[u8]) -> XmlError {
    XmlError::UndeclaredPrefix(String::from_utf8_lossy(prefix).into_owned())
}

#[cold]
#[inline(never)]
fn duplicate(qname: &[u8]) -> XmlError {
    XmlError::DuplicateAttribute(String::from_utf8_lossy(qname).into_owned())
}

/// XML 1.0 §2.4: `]]>` may not appear in character data. `d[k]` is a `>`
/// in text; the two bytes before it are text too (content never starts
/// right after a `]`).
#[inline(always)]
fn no_cdata_end(d: &[u8], k: usize) -> Result<(), XmlError> {
    if k >= 2 && d[k - 2] == b']' && d[k - 1] == b']' {
        return Err(XmlError::Syntax("']]>' in character data"));
    }
    Ok(())
}

/// Validate the body of `&body;`.
fn check_ref(body: &[u8]) -> Result<(), XmlError> {
    match body {
        b"amp" | b"lt" | b"gt" | b"apos" | b"quot" => Ok(()),
        [b'#', rest @ ..] => match char_ref_value(rest) {
            Some(c) if chars::is_xml_char(c) => Ok(()),
            _ => Err(XmlError::InvalidCharRef(
                String::from_utf8_lossy(body).into_owned(),
            )),
        },
        _ => match check_qname(body) {
            QName::Ok { colon: None } => Err(XmlError::UndefinedEntity(
                String::from_utf8_lossy(body).into_owned(),
            )),
            QName::BadUtf8 => Err(XmlError::InvalidUtf8),
            _ => Err(XmlError::Syntax("malformed entity reference")),
        },
    }
}

/// `version='1.x' [encoding='UTF-8'] [standalone='yes|no']`
fn parse_xml_decl(body: &[u8]) -> Result<(), XmlError> {
    let mut rest = body;
    let mut seen_version = false;
    let mut order = 0;
    loop {
        while let [b, r @ ..] = rest {
            if is_ws(*b) {
                rest = r;
            } else {
                break;
            }
        }
        if rest.is_empty() {
            break;
        }
        let eq = memchr::memchr(b'=', rest).ok_or(XmlError::BadXmlDecl("expected name='value'"))?;
        let name = trim(&rest[..eq]);
        let mut r = &rest[eq + 1..];
        while let [b, rr @ ..] = r {
            if is_ws(*b) {
                r = rr;
            } else {
                break;
            }
        }
        let q = *r.first().ok_or(XmlError::BadXmlDecl("missing value"))?;
        if q != b'\'' && q != b'"' {
            return Err(XmlError::BadXmlDecl("unquoted value"));
        }
        let close = memchr::memchr(q, &r[1..]).ok_or(XmlError::BadXmlDecl("unterminated value"))?;
        let value = &r[1..1 + close];
        rest = &r[close + 2..];
        match name {
            b"version" if order == 0 => {
                if value.len() < 3
                    || !value.starts_with(b"1.")
                    || !value[2..].iter().all(u8::is_ascii_digit)
                {
                    return Err(XmlError::BadXmlDecl("unsupported version"));
                }
                seen_version = true;
                order = 1;
            }
            b"encoding" if order == 1 => {
                if !value.eq_ignore_ascii_case(b"utf-8") {
                    return Err(XmlError::UnsupportedEncoding(
                        String::from_utf8_lossy(value).into_owned(),
                    ));
                }
                order = 2;
            }
            b"standalone" if (1..=2).contains(&order) => {
                if value != b"yes" && value != b"no" {
                    return Err(XmlError::BadXmlDecl("standalone must be yes or no"));
                }
                order = 3;
            }
            _ => return Err(XmlError::BadXmlDecl("unexpected pseudo-attribute")),
        }
    }
    if !seen_version {
        return Err(XmlError::BadXmlDecl("missing version"));
    }
    Ok(())
}

fn trim(s: &[u8]) -> &[u8] {
    let mut s = s;
    while let [r @ .., b] = s {
        if is_ws(*b) {
            s = r;
        } else {
            break;
        }
    }
    s
}
