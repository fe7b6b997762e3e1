//! Sans-IO SASL mechanisms for XMPP.
