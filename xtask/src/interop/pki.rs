//! The test PKI: a throwaway CA, the servers' certificate, an unrelated CA, and two
//! broken certificates signed by the test CA for the probe's tests: one expired, one for
//! another name.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use super::files::io_err;
use crate::peers::{Layout, TestCert, DOMAIN, WRONG_NAME};
use crate::process::capture;

/// The expired certificate's validity, in days relative to now: it ran out two days ago
/// (a recent lapse, as when a renewal failed), after 60 days.
const EXPIRED_FROM_DAYS: i64 = -62;
const EXPIRED_UNTIL_DAYS: i64 = -2;

/// A fresh test PKI at each start: a CA and a certificate for the served domain with
/// `subjectAltName DNS:example.com` (what XMPP clients verify), signed by it; then
/// [`TestCert::Expired`] (example.com, validity entirely in the past, signed with
/// `openssl ca`, the one command that takes explicit dates) and [`TestCert::WrongName`]
/// (valid, but only for [`WRONG_NAME`]). The CA key only lives until the next start;
/// nothing outside the suite trusts it.
pub(super) fn make(layout: &Layout) -> Result<(), String> {
    let dir = layout.pki_dir();
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, e))?;
    for (file, name) in [("server.ext", DOMAIN), ("wrong-name.ext", WRONG_NAME)] {
        let ext = dir.join(file);
        fs::write(
            &ext,
            format!(
                "basicConstraints = critical, CA:FALSE\n\
                 keyUsage = critical, digitalSignature, keyEncipherment\n\
                 extendedKeyUsage = serverAuth\n\
                 subjectAltName = DNS:{name}\n"
            ),
        )
        .map_err(|e| io_err("write", &ext, e))?;
    }
    let openssl = openssl_in(&dir);
    openssl(
        "req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -keyout ca.key -out ca.crt \
         -subj /CN=xmpp-negotiate-interop-test-CA \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        "openssl: test CA",
    )?;
    let good = TestCert::Good.stem();
    openssl(&csr(good, DOMAIN), "openssl: server key and CSR")?;
    openssl(
        &format!(
            "x509 -req -sha256 -days 30 -in {good}.csr -CA ca.crt -CAkey ca.key \
             -CAcreateserial -out {good}.crt -extfile server.ext"
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
        &format!("verify -CAfile ca.crt -verify_hostname {DOMAIN} -purpose sslserver {good}.crt"),
        "openssl verify",
    )?;
    make_broken(&dir, &openssl)?;
    make_p256(&dir, &openssl)
}

/// Adds [`TestCert::GoodP256`] to a test PKI made before it existed (servers
/// running on the PKI keep their certificates: nothing else changes).
pub(crate) fn ensure_p256(layout: &Layout) -> Result<(), String> {
    let c = TestCert::GoodP256;
    if layout.test_cert(c).is_file() && layout.test_key(c).is_file() {
        return Ok(());
    }
    let dir = layout.pki_dir();
    let openssl = openssl_in(&dir);
    make_p256(&dir, &openssl)
}

/// Runs `openssl ARGS` in `dir`, `what` naming it in errors. Arguments are
/// whitespace-separated: none of them contains a space.
fn openssl_in(dir: &Path) -> impl Fn(&str, &str) -> Result<(), String> + '_ {
    move |args: &str, what: &str| {
        capture(
            Command::new("openssl")
                .args(args.split_whitespace())
                .current_dir(dir),
            what,
        )
        .map(|_| ())
    }
}

/// [`TestCert::GoodP256`]: the served domain's certificate with a P-256 key
/// (PKCS#8), signed by the test CA, checked by `openssl verify`.
fn make_p256(dir: &Path, openssl: &dyn Fn(&str, &str) -> Result<(), String>) -> Result<(), String> {
    let stem = TestCert::GoodP256.stem();
    // As server.ext, without keyEncipherment: an ECDSA key only signs.
    let ext = dir.join("server-p256.ext");
    fs::write(
        &ext,
        format!(
            "basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n\
             subjectAltName = DNS:{DOMAIN}\n"
        ),
    )
    .map_err(|e| io_err("write", &ext, e))?;
    openssl(
        &format!(
            "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
             -keyout {stem}.key -out {stem}.csr -subj /CN={DOMAIN}"
        ),
        "openssl: P-256 server key and CSR",
    )?;
    openssl(
        &format!(
            "x509 -req -sha256 -days 30 -in {stem}.csr -CA ca.crt -CAkey ca.key \
             -CAserial ca.srl -CAcreateserial -out {stem}.crt -extfile server-p256.ext"
        ),
        "openssl: sign the P-256 server certificate",
    )?;
    openssl(
        &format!("verify -CAfile ca.crt -verify_hostname {DOMAIN} -purpose sslserver {stem}.crt"),
        "openssl verify (P-256 certificate)",
    )
}

/// The `openssl` arguments for a new RSA key `STEM.key` and a CSR `STEM.csr`
/// for the common name `cn`.
fn csr(stem: &str, cn: &str) -> String {
    format!(
        "req -new -newkey rsa:2048 -nodes -sha256 -keyout {stem}.key -out {stem}.csr -subj /CN={cn}"
    )
}

/// The expired and the wrong-name certificate, each checked with `openssl verify` to be
/// wrong in exactly the one way it should be.
fn make_broken(
    dir: &Path,
    openssl: &dyn Fn(&str, &str) -> Result<(), String>,
) -> Result<(), String> {
    let expired = TestCert::Expired.stem();
    let wrong = TestCert::WrongName.stem();
    openssl(
        &csr(expired, DOMAIN),
        "openssl: expired certificate's key and CSR",
    )?;
    let cnf = dir.join("ca.cnf");
    fs::write(
        &cnf,
        "[ca]\ndefault_ca = test_ca\n\
         [test_ca]\ndatabase = ca-index.txt\nnew_certs_dir = .\ncertificate = ca.crt\n\
         private_key = ca.key\nserial = ca-index.srl\ndefault_md = sha256\n\
         policy = policy_any\nunique_subject = no\n\
         [policy_any]\ncommonName = supplied\n",
    )
    .map_err(|e| io_err("write", &cnf, e))?;
    for (f, text) in [("ca-index.txt", ""), ("ca-index.srl", "1000\n")] {
        fs::write(dir.join(f), text).map_err(|e| io_err("write", &dir.join(f), e))?;
    }
    openssl(
        &format!(
            "ca -batch -config ca.cnf -notext -in {expired}.csr -out {expired}.crt \
             -startdate {} -enddate {} -extfile server.ext",
            asn1_time(EXPIRED_FROM_DAYS),
            asn1_time(EXPIRED_UNTIL_DAYS)
        ),
        "openssl ca: sign the expired certificate",
    )?;
    openssl(
        &csr(wrong, WRONG_NAME),
        "openssl: wrong-name certificate's key and CSR",
    )?;
    openssl(
        &format!(
            "x509 -req -sha256 -days 30 -in {wrong}.csr -CA ca.crt -CAkey ca.key \
             -CAserial ca.srl -out {wrong}.crt -extfile wrong-name.ext"
        ),
        "openssl: sign the wrong-name certificate",
    )?;
    let verify = |args: &str| format!("verify {args} -CAfile ca.crt -purpose sslserver");
    // Right but for the time, and wrong for the time alone.
    openssl(
        &format!(
            "{} -no_check_time -verify_hostname {DOMAIN} {expired}.crt",
            verify("")
        ),
        "openssl verify (expired certificate, time not checked)",
    )?;
    expect_refusal(
        dir,
        &format!("{} -verify_hostname {DOMAIN} {expired}.crt", verify("")),
        "certificate has expired",
    )?;
    // Right for its own name, wrong for the domain.
    openssl(
        &format!("{} -verify_hostname {WRONG_NAME} {wrong}.crt", verify("")),
        "openssl verify (wrong-name certificate, for its own name)",
    )?;
    expect_refusal(
        dir,
        &format!("{} -verify_hostname {DOMAIN} {wrong}.crt", verify("")),
        "hostname mismatch",
    )
}

/// `openssl ARGS` must fail and say `why`.
fn expect_refusal(dir: &Path, args: &str, why: &str) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .map_err(|e| format!("openssl: cannot run: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() && text.contains(why) {
        Ok(())
    } else {
        Err(format!(
            "openssl {args}: want a failure with {why:?}, got {text:?}"
        ))
    }
}

/// Now plus `days`, as `openssl ca -startdate`/`-enddate` take it (`YYYYMMDDHHMMSSZ`, UTC).
fn asn1_time(days: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let secs = i64::try_from(now).unwrap_or(0) + days * 86_400;
    let (day, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(day);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_792), (2026, 12, 5));
    }
}
