-- Prosody (Debian 0.12) configured as deployed, for the TLS interop tests.
-- `cargo xtask interop start` copies it into the runtime state directory, replacing
-- @DATA_DIR@ (absolute), @C2S_PORT@, @CERT_FILE@ and @KEY_FILE@ (the test certificate for
-- example.com made at start). Loopback only, no s2s, no HTTP.
-- Before TLS it offers only <starttls><required/></starttls>; after TLS, PLAIN and
-- SCRAM-SHA-1 (hashed storage: 0.12 derives only SCRAM-SHA-1 keys). Its SCRAM-SHA-1-PLUS
-- knows only tls-unique, which TLS 1.3 does not have, so it is not offered on TLS 1.3.
data_path = "@DATA_DIR@"
certificates = "@DATA_DIR@"
pidfile = "prosody.pid"
log = { warn = "@DATA_DIR@/prosody.log"; }
gc = { mode = "generational" }
run_as_root = true
-- The global ssl block must come before the VirtualHost line: placed after it, it applies
-- only to that host, and c2s then offers no STARTTLS.
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
http_ports = { }
https_ports = { }
c2s_require_encryption = true
s2s_require_encryption = false
allow_unencrypted_plain_auth = false
authentication = "internal_hashed"
modules_enabled = { "tls"; "saslauth"; "disco"; "roster"; "ping"; }
modules_disabled = { "s2s"; "offline"; "c2s_direct_tls"; }
VirtualHost "example.com"
