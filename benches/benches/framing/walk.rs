//! Navigating a decoded element in full, shared by the framing benchmark
//! and `examples/ratio.rs` so that both measure the same walk.

use std::hint::black_box;

/// Every element's name, namespace, attributes and text, depth first.
/// Children are built when first navigated to: this is what the
/// `elements` mode defers.
pub fn walk(e: &xmpp_xml::Element) {
    black_box((e.name(), e.ns()));
    for a in e.attrs() {
        black_box(a);
    }
    black_box(e.text());
    for c in e.children() {
        walk(c);
    }
}
