//! Which `decode` method is stepping the framer, as a type: what it records
//! and whether it hands out the element in place.
//!
//! The framer's `step` is generic over it, so each method gets its own copy
//! of the scanner with the others' branches compiled out: the constants
//! are known at compile time.

/// A decode mode: implemented only by the three marker types below.
pub(crate) trait Mode: sealed::Sealed {
    /// Record the nodes of the element's descendants, which a tree is
    /// built from (otherwise only the root's start tag is kept).
    const TREE: bool;
    /// Leave a finished element in the buffer and borrow it, instead of
    /// splitting it off.
    const BORROW: bool;
}

mod sealed {
    /// Keeps [`super::Mode`] to the markers of this module.
    pub trait Sealed {}
    impl Sealed for super::Tree {}
    impl Sealed for super::Raw {}
    impl Sealed for super::Borrow {}
}

/// `Framer::decode`: record the nodes a tree is built from.
pub(crate) enum Tree {}

/// `Framer::decode_raw`: keep only the root's start tag, split the element off.
pub(crate) enum Raw {}

/// `Framer::decode_borrowed`: as [`Raw`], but leave the element in the buffer.
pub(crate) enum Borrow {}

impl Mode for Tree {
    const TREE: bool = true;
    const BORROW: bool = false;
}

impl Mode for Raw {
    const TREE: bool = false;
    const BORROW: bool = false;
}

impl Mode for Borrow {
    const TREE: bool = false;
    const BORROW: bool = true;
}
