-- Stock Prosody (Debian 0.12) configuration for the interop suite.
-- `cargo xtask interop start` copies it into the runtime state directory, replacing
-- @DATA_DIR@ (absolute) and @C2S_PORT@. Loopback only, no TLS, no s2s, no HTTP.
-- Offers PLAIN, SCRAM-SHA-1 and SCRAM-SHA-256 (0.12 has no DIGEST-MD5).
data_path = "@DATA_DIR@"
-- No TLS, but prosody still indexes a certificate directory at startup.
certificates = "@DATA_DIR@"
-- pidfile is resolved relative to data_path; the log path relative to the working directory.
pidfile = "prosody.pid"
log = { warn = "@DATA_DIR@/prosody.log"; }
-- The stock incremental GC slows prosody down steadily under many logins.
gc = { mode = "generational" }
-- Tests run as root in the sandbox; prosody refuses that without this.
run_as_root = true
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { @C2S_PORT@ }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
s2s_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
-- Plaintext storage so that every SCRAM variant can be computed.
authentication = "internal_plain"
-- smacks: stream management (XEP-0198) with resumption; 0.12 ships it in core (no prosody-modules).
modules_enabled = { "saslauth"; "disco"; "roster"; "ping"; "smacks"; }
modules_disabled = { "s2s"; "tls"; "offline"; "c2s_direct_tls"; }
VirtualHost "example.com"
