//! Shared test driver: feed chunks, decode everything, reset after `<success/>`/`<proceed/>`.
#![allow(dead_code, clippy::unwrap_used)]

use bytes::BytesMut;
use tokio_util::codec::Decoder;
use xmpp_xml::{ns, Frame, Limits, StreamCodec};

/// What a decode run produced: frames, then maybe an error (condition + message).
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub frames: Vec<Frame>,
    pub error: Option<String>,
    /// Bytes left in the buffer at the end.
    pub rest: Vec<u8>,
}

pub fn restart_after(f: &Frame) -> bool {
    matches!(f, Frame::Element(e) if e.is("success", ns::SASL) || e.is("proceed", ns::TLS))
}

/// Decode `input` delivered in the given pieces (consecutive lengths; the
/// remainder is delivered last).
pub fn run_chunks(input: &[u8], cuts: &[usize], limits: &Limits) -> Outcome {
    let mut codec = StreamCodec::new(limits.clone());
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut at = 0;
    let mut pieces: Vec<&[u8]> = Vec::new();
    for &c in cuts {
        let end = (at + c).min(input.len());
        pieces.push(&input[at..end]);
        at = end;
    }
    pieces.push(&input[at..]);
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(f)) => {
                    let restart = restart_after(&f);
                    frames.push(f);
                    if restart {
                        codec.reset();
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let error = Some(format!("{:?}: {e:?}", e.condition()));
                    // What is left after an error depends on how much had arrived.
                    return Outcome {
                        frames,
                        error,
                        rest: Vec::new(),
                    };
                }
            }
        }
    }
    Outcome {
        frames,
        error: None,
        rest: buf.to_vec(),
    }
}

pub fn run_whole(input: &[u8]) -> Outcome {
    run_chunks(input, &[], &Limits::default())
}

/// Assert that every way of splitting `input` in two, and byte-by-byte
/// delivery, gives the same outcome as whole delivery. Returns that outcome.
pub fn assert_chunking_invariant(input: &[u8], limits: &Limits) -> Outcome {
    let whole = run_chunks(input, &[], limits);
    for split in 0..=input.len() {
        let o = run_chunks(input, &[split], limits);
        assert!(
            o == whole,
            "split at {split} of {:?}:\n{o:?}\nvs whole:\n{whole:?}",
            String::from_utf8_lossy(&input[..input.len().min(300)])
        );
    }
    let ones = vec![1; input.len()];
    assert!(run_chunks(input, &ones, limits) == whole, "byte by byte");
    whole
}

pub fn element(f: &Frame) -> &xmpp_xml::Element {
    match f {
        Frame::Element(e) => e,
        other => panic!("expected an element, got {other:?}"),
    }
}
