-- Prosody (Debian 0.12) with an EXPIRED certificate, for the `xmpp probe` interop tests
-- (crates/xmpp-cli/tests/probe_peers.rs). `cargo xtask interop start` copies it into the
-- runtime state directory, replacing @DATA_DIR@, @C2S_PORT@, @DIRECT_TLS_PORT@ and
-- @CERT_FILE@/@KEY_FILE@ (expired.example.com.crt: for example.com, signed by the test
-- CA, its validity ended two days before the start). Loopback only, no s2s, no HTTP.
-- What a probe must find, by config line:
--   c2s_require_encryption = false      -> <starttls/> offered without <required/>
--   allow_unencrypted_plain_auth = false -> no PLAIN before TLS (SCRAM only), PLAIN after
--   c2s_direct_tls_ports                -> TLS from the first byte on the second port
--   protocol = "tlsv1_2"                -> TLS 1.2 only (a TLS 1.3 handshake fails)
--   authentication = "internal_plain"   -> SCRAM-SHA-1 and SCRAM-SHA-256, and on TLS
--                                          (1.2) their -PLUS with tls-unique, no XEP-0440
--   no "smacks" in modules_enabled      -> no stream management (unlike :15322)
data_path = "@DATA_DIR@"
certificates = "@DATA_DIR@"
pidfile = "prosody.pid"
log = { warn = "@DATA_DIR@/prosody.log"; }
gc = { mode = "generational" }
run_as_root = true
-- Global, before the VirtualHost line (after it, c2s would offer no STARTTLS).
ssl = {
	certificate = "@CERT_FILE@";
	key = "@KEY_FILE@";
	-- LuaSec's "tlsv1_2" is exactly TLS 1.2 (Prosody's default is "tlsv1_2+").
	protocol = "tlsv1_2";
}
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { @C2S_PORT@ }
c2s_direct_tls_ports = { @DIRECT_TLS_PORT@ }
legacy_ssl_ports = { }
s2s_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = false
authentication = "internal_plain"
modules_enabled = { "tls"; "saslauth"; "disco"; "roster"; "ping"; }
modules_disabled = { "s2s"; "offline"; }
VirtualHost "example.com"
