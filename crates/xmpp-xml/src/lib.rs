//! Incremental restricted-XML framing for XMPP streams.
