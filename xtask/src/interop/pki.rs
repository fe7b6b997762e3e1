//! The test PKI: a throwaway CA, the servers' certificate, and an unrelated CA.

use std::fs;
use std::process::Command;

use super::files::io_err;
use crate::peers::{Layout, DOMAIN};
use crate::process::capture;

/// A fresh test PKI at each start: a CA and a certificate for the served domain with
/// `subjectAltName DNS:example.com` (what XMPP clients verify), signed by it. The CA key
/// only lives until the next start; nothing outside the suite trusts it.
pub(super) fn make(layout: &Layout) -> Result<(), String> {
    let dir = layout.pki_dir();
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, e))?;
    let ext = dir.join("server.ext");
    fs::write(
        &ext,
        format!(
            "basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature, keyEncipherment\n\
             extendedKeyUsage = serverAuth\n\
             subjectAltName = DNS:{DOMAIN}\n"
        ),
    )
    .map_err(|e| io_err("write", &ext, e))?;
    // Whitespace-separated arguments: none of them contains a space.
    let openssl = |args: &str, what: &str| {
        capture(
            Command::new("openssl")
                .args(args.split_whitespace())
                .current_dir(&dir),
            what,
        )
        .map(|_| ())
    };
    openssl(
        "req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -keyout ca.key -out ca.crt \
         -subj /CN=xmpp-negotiate-interop-test-CA \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        "openssl: test CA",
    )?;
    openssl(
        &format!(
            "req -new -newkey rsa:2048 -nodes -sha256 -keyout {DOMAIN}.key -out {DOMAIN}.csr \
             -subj /CN={DOMAIN}"
        ),
        "openssl: server key and CSR",
    )?;
    openssl(
        &format!(
            "x509 -req -sha256 -days 30 -in {DOMAIN}.csr -CA ca.crt -CAkey ca.key \
             -CAcreateserial -out {DOMAIN}.crt -extfile server.ext"
        ),
        "openssl: sign the server certificate",
    )?;
    openssl(
        "req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -keyout other-ca.key \
         -out other-ca.crt -subj /CN=xmpp-negotiate-interop-untrusted-CA \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
        "openssl: a second, unrelated CA",
    )?;
    // Check with an independent verifier before any server or client relies on it.
    openssl(
        &format!("verify -CAfile ca.crt -verify_hostname {DOMAIN} -purpose sslserver {DOMAIN}.crt"),
        "openssl verify",
    )?;
    Ok(())
}
