-- A second Prosody 13.0.1 (same unpacked tree as prosody.cfg.lua) with a certificate for
-- ANOTHER NAME, for the `xmpp probe` interop tests (crates/xmpp-cli/tests/probe_peers.rs).
-- `cargo xtask interop start` copies it into $STATE/run/prosody13-wrong-name/, replacing
-- @DATA_DIR@, @C2S_PORT@, @HTTP_PORT@, @CERT_FILE@/@KEY_FILE@ (wrong-name.crt: signed by
-- the test CA, valid, subjectAltName DNS:wrong-name.example.net only) and @CERT_HASH@ (its
-- SHA-256). Loopback only, no s2s, no direct TLS.
-- What a probe must find, by config line:
--   c2s_require_encryption = true       -> before TLS only <starttls><required/></starttls>
--   allow_registration = true, "register" -> <register/> (XEP-0077) after TLS only
--   "sasl2"; "sasl2_bind2"; "sasl2_fast" -> SASL2 with inline Bind2 and FAST after TLS
--   no "smacks"/"sasl2_sm"              -> no stream management, none inline
--   "csi_simple"                        -> csi
--   password_hash = "SHA-256"           -> SCRAM-SHA-256 (+ -PLUS), no SCRAM-SHA-1
--   "websocket" + http_external_url     -> ws://127.0.0.1:@HTTP_PORT@/xmpp-websocket, listed in
--                                          /.well-known/host-meta(.json) (mod_http_altconnect,
--                                          which mod_websocket loads); ws:// is not considered
--                                          secure here (no consider_websocket_secure)
data_path = "@DATA_DIR@"
certificates = "@DATA_DIR@"
pidfile = "prosody.pid"
log = { warn = "@DATA_DIR@/prosody.log"; }
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
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
s2s_ports = { }
http_ports = { @HTTP_PORT@ }
http_interfaces = { "127.0.0.1" }
https_ports = { }
http_default_host = "example.com"
-- What module:http_url() builds the host-meta links from (else http://example.com:PORT/).
http_external_url = "http://127.0.0.1:@HTTP_PORT@/"
c2s_require_encryption = true
s2s_require_encryption = false
allow_unencrypted_plain_auth = false
allow_registration = true
authentication = "internal_hashed"
password_hash = "SHA-256"
tls_server_end_point_hash = "@CERT_HASH@"
modules_enabled = {
	"tls"; "saslauth"; "disco"; "roster"; "ping"; "register";
	"csi_simple";
	"http"; "websocket";
	-- prosody-modules
	"sasl2"; "sasl2_bind2"; "sasl2_fast"; "sasl_ssdp";
}
modules_disabled = { "s2s"; "offline"; "c2s_direct_tls"; }
VirtualHost "example.com"
