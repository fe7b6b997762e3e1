//! XMPP c2s stream negotiation over tokio.
