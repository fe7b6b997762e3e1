//! The framer's state: what survives between `decode` calls, grouped by
//! concern, and the small types its scanning steps report with.

use crate::error::Condition;
use crate::frame::StreamHeader;
use crate::limits::Limits;
use crate::raw::RootTag;

use super::events::{AttrEv, NsRef, Open, Rec, MAX_STANZA};
use super::names::{Namespaces, StartTag};

/// No offset (no text run open).
pub(super) const NONE: usize = usize::MAX;

/// Where the stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Before the stream header: XML declaration, whitespace, header.
    Prolog,
    /// Inside the stream: top-level elements and whitespace.
    Stream,
    /// After `</stream:stream>`.
    Closed,
    /// A decode error ended the stream.
    Failed(Condition),
}

/// The scanner's state: what the next byte is read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lex {
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

/// Where the scan goes on, and the state to go on in: what survives a
/// `decode` call that ran out of input mid-construct.
#[derive(Debug)]
pub(super) struct Cursor {
    pub(super) lex: Lex,
    /// Offset of the next byte to examine in the current element.
    pub(super) pos: usize,
    /// Start of the token being read (a name, an attribute value, CDATA).
    pub(super) tok: usize,
    /// Offset of the `<` of the tag being read.
    pub(super) tag_start: usize,
    /// Offset of the `&` of the reference being read, and whether it is in
    /// an attribute value (otherwise in text).
    pub(super) ref_start: usize,
    pub(super) ref_in_attr: bool,
    /// How much of `[CDATA[` is matched.
    pub(super) cdata_match: u8,
}

/// The character data since the last tag.
#[derive(Debug)]
pub(super) struct TextRun {
    /// Its first offset, or [`NONE`] when there is none.
    pub(super) start: usize,
    /// It holds a reference, CDATA or a line end to normalise.
    pub(super) esc: bool,
}

/// What is recorded of the current top-level element to build its tree.
#[derive(Debug)]
pub(super) struct Record {
    /// Record the nodes of the element's descendants (needed to build it
    /// as an [`Element`](crate::Element)); [`Framer::decode_raw`] needs
    /// only the root's, so it scans with this off.
    pub(super) tree: bool,
    /// The element's nodes, in document order.
    pub(super) recs: Vec<Rec>,
    pub(super) attr_evs: Vec<AttrEv>,
    /// Some element's attributes are records (`Rec::SHARED`): one needs
    /// unescaping or is in a namespace other than `xml`.
    pub(super) shared_attrs: bool,
}

/// What the prolog established.
#[derive(Debug, Default)]
pub(super) struct Prolog {
    /// The XML declaration or the stream header was seen (a declaration
    /// may come only first).
    pub(super) seen_token: bool,
    pub(super) seen_bom: bool,
    /// The stream header's qualified name, which the stream close must match.
    pub(super) header_qname: Vec<u8>,
}

/// The decoding half of [`crate::StreamCodec`], usable on its own.
#[derive(Debug)]
pub struct Framer {
    pub(super) limits: Limits,
    /// How far past a name's first byte its scan may look: one byte
    /// more than `max_name_len` (to see it is too long), at most past any
    /// element (so a plain add cannot overflow).
    pub(super) name_room: usize,
    pub(super) next_limits: Option<Limits>,
    pub(super) phase: Phase,
    pub(super) cur: Cursor,
    pub(super) text: TextRun,
    pub(super) tag: StartTag,
    /// Open elements inside the current top-level element.
    pub(super) depth: usize,
    pub(super) open: Vec<Open>,
    pub(super) scope: Namespaces,
    pub(super) rec: Record,
    pub(super) prolog: Prolog,
    /// The top-level element's start tag, for `decode_raw` and
    /// `decode_borrowed` (which record no nodes), and its namespace.
    pub(super) root: RootTag,
    pub(super) root_ns: NsRef,
    /// Bytes at the front of the buffer that are decoded but still there:
    /// elements [`Framer::decode_borrowed`] handed out and the whitespace
    /// after them. The current element starts here.
    pub(super) pending: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(Limits::default())
    }
}

impl Framer {
    /// A framer expecting a stream header, with the given limits.
    pub fn new(limits: Limits) -> Self {
        Framer {
            name_room: name_room(&limits),
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
                recs: Vec::new(),
                attr_evs: Vec::new(),
                shared_attrs: false,
            },
            prolog: Prolog::default(),
            root: RootTag::default(),
            root_ns: NsRef::default(),
            pending: 0,
        }
    }
}

/// [`Framer::name_room`] for `limits`.
pub(super) fn name_room(limits: &Limits) -> usize {
    limits.max_name_len.min(MAX_STANZA) + 1
}

/// A frame the scan of the current element's bytes ended, and where.
pub(super) enum Done {
    XmlDecl(usize),
    Header(Box<StreamHeader>, usize),
    Element(usize),
    Close(usize),
}

/// Where scanning goes on after a step.
pub(super) enum Flow {
    /// At this position, in the state now in `cur.lex`.
    Go(usize),
    /// The input ends here; the state is saved.
    More(usize),
    /// A frame ended.
    Done(usize, Done),
}
