//! [`Limits`]: the bounds the decoder enforces while parsing.

/// Limits enforced while parsing, so that no input makes the decoder use
/// more than a bounded amount of memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes per top-level element, from its `<` to its last `>` (also caps
    /// the stream header and the XML declaration). Default 256 KiB; values
    /// above 4 GiB minus 8 bytes act as that (offsets are 32-bit).
    pub max_stanza_bytes: usize,
    /// Nesting depth of elements inside a top-level element, the top-level
    /// element itself being depth 1. Default 64.
    pub max_depth: usize,
    /// Attributes (namespace declarations included) per element. Default 64.
    pub max_attributes: usize,
    /// Bytes per qualified name. Default 256.
    pub max_name_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stanza_bytes: 256 * 1024,
            max_depth: 64,
            max_attributes: 64,
            max_name_len: 256,
        }
    }
}
