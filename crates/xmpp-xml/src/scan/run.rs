//! The scanner's dispatch loop: one step per state until a frame ends or
//! the input does.

use crate::error::XmlError;

use super::state::{Done, Flow, Framer, Lex};

impl Framer {
    /// Scan `d` (the current element's bytes so far, capped at the size
    /// limit) from `cur.pos`. `None` = needs more bytes.
    ///
    /// Each state's step is inlined here, so the loop is one function with
    /// `pos` in a register, as when the steps were written out in it.
    pub(super) fn run(&mut self, d: &[u8]) -> Result<Option<Done>, XmlError> {
        let mut pos = self.cur.pos;
        let max_name = self.limits.max_name_len;
        // Each step reports where to go on; matched in every arm, so each
        // state continues straight to the next dispatch.
        macro_rules! flow {
            ($e:expr) => {
                match $e {
                    Flow::Go(p) => {
                        pos = p;
                        continue;
                    }
                    Flow::More(p) => {
                        pos = p;
                        break None;
                    }
                    Flow::Done(p, done) => {
                        pos = p;
                        break Some(done);
                    }
                }
            };
        }
        let res = loop {
            match self.cur.lex {
                Lex::Between => break None,
                Lex::Content => flow!(self.content(d, pos)?),
                Lex::Lt => flow!(self.lt(d, pos)?),
                Lex::StartName | Lex::AttrName | Lex::EndName => {
                    flow!(self.name(d, pos, max_name)?)
                }
                Lex::InTag => flow!(self.in_tag(d, pos)?),
                Lex::AttrEq => flow!(self.attr_eq(d, pos)?),
                Lex::AttrQuote => flow!(self.attr_quote(d, pos)?),
                Lex::AttrValue => flow!(self.attr_value(d, pos)?),
                Lex::Ref => flow!(self.reference(d, pos)?),
                Lex::EmptyEnd => flow!(self.empty_end(d, pos)?),
                Lex::EndTail => flow!(self.end_tail(d, pos)?),
                Lex::Bang => flow!(self.bang(d, pos)?),
                Lex::CdataOpen => flow!(self.cdata_open(d, pos)?),
                Lex::Cdata => flow!(self.cdata(d, pos)?),
                Lex::Question => flow!(self.question(d, pos)?),
                Lex::XmlDecl => flow!(self.xml_decl(d, pos)?),
            }
        };
        self.cur.pos = pos;
        Ok(res)
    }
}
