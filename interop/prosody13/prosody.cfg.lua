-- Prosody 13.0.1 + prosody-modules hg20250402 (Debian bookworm-backports, unpacked under
-- $STATE/modern/prosody13) for the SASL2 (XEP-0388), Bind2 (XEP-0386), FAST (XEP-0484),
-- SSDP (XEP-0474) and inline stream management interop tests.
-- `cargo xtask interop start` copies it into $STATE/run/prosody13/, replacing @DATA_DIR@,
-- the ports, @CERT_FILE@/@KEY_FILE@ (the test certificate for example.com) and @CERT_HASH@
-- (the SHA-256 of that certificate's DER, in hex), registers the account with
-- `prosodyctl register`, then runs `lua5.4 .../usr/bin/prosody -F`. Loopback only, no s2s.
data_path = "@DATA_DIR@"
certificates = "@DATA_DIR@"
pidfile = "prosody.pid"
log = { info = "@DATA_DIR@/prosody.log"; }
gc = { mode = "generational" }
run_as_root = true
-- Global, and before the VirtualHost line (after it, it would apply to that host only).
ssl = {
	certificate = "@CERT_FILE@";
	key = "@KEY_FILE@";
}
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { @C2S_PORT@ }
c2s_direct_tls_ports = { @DIRECT_TLS_PORT@ }
legacy_ssl_ports = { }
s2s_ports = { }
http_ports = { @HTTP_PORT@ }
http_interfaces = { "127.0.0.1" }
https_ports = { }
http_default_host = "example.com"
-- STARTTLS offered, not required, and PLAIN allowed without it: plaintext tests.
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
-- WebSocket on ws:// counts as secure (SASL offered there as on TLS); any Origin.
consider_websocket_secure = true
cross_domain_websocket = true
-- Hashed storage with SHA-256 keys, in force when `prosodyctl register` runs: SCRAM-SHA-256
-- (and PLAIN); no SCRAM-SHA-1.
authentication = "internal_hashed"
password_hash = "SHA-256"
-- The tls-server-end-point binding itself (hex), so that SCRAM-*-PLUS with it works.
tls_server_end_point_hash = "@CERT_HASH@"
modules_enabled = {
	"tls"; "saslauth"; "disco"; "roster"; "ping";
	"smacks"; "carbons"; "csi_simple";
	"http"; "websocket";
	-- prosody-modules
	"sasl2"; "sasl2_bind2"; "sasl2_sm"; "sasl2_fast"; "sasl_ssdp";
}
modules_disabled = { "s2s"; "offline"; }
VirtualHost "example.com"
