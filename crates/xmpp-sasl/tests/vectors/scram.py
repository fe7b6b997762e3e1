#!/usr/bin/env python3
"""Independent SCRAM (RFC 5802 / RFC 7677) computation with hashlib/hmac.

Produces the expected messages in tests/vectors.rs for cases the RFCs do not
cover (non-ASCII, authzid, escaped names, channel binding). Strings are chosen so
that SASLprep leaves them unchanged (already NFKC, no mapped or prohibited characters).

Channel binding (RFC 5802 §6/§7): `cb=(name, data)` makes the GS2 header
`p=<name>,[a=..],` and c= base64(gs2-header || data); `flag="y"` gives `y,,`.
If the independent `scramp` package is importable (pip install scramp), the
tls-server-end-point cases are also run through scramp's client and server and
must agree (scramp does not implement tls-exporter).
"""
import base64
import hashlib
import hmac


def scram(hname, user, pw, cnonce, snonce, salt, i, authzid=None, cb=None, flag="n"):
    H = lambda b: hashlib.new(hname, b).digest()
    HM = lambda k, m: hmac.new(k, m, hname).digest()
    saslname = lambda s: s.replace("=", "=3D").replace(",", "=2C")
    if cb:
        flag = "p=" + cb[0]
    gs2 = "%s,a=%s," % (flag, saslname(authzid)) if authzid else flag + ",,"
    cbind_input = gs2.encode() + (cb[1] if cb else b"")
    bare = "n=%s,r=%s" % (saslname(user), cnonce)
    sfirst = "r=%s%s,s=%s,i=%d" % (cnonce, snonce, base64.b64encode(salt).decode(), i)
    wop = "c=%s,r=%s%s" % (base64.b64encode(cbind_input).decode(), cnonce, snonce)
    am = ",".join([bare, sfirst, wop]).encode()
    sp = hashlib.pbkdf2_hmac(hname, pw.encode(), salt, i)
    ck = HM(sp, b"Client Key")
    sk = H(ck)
    svk = HM(sp, b"Server Key")
    proof = bytes(a ^ b for a, b in zip(ck, HM(sk, am)))
    return {
        "client_first": gs2 + bare,
        "server_first": sfirst,
        "client_final": wop + ",p=" + base64.b64encode(proof).decode(),
        "server_final": "v=" + base64.b64encode(HM(svk, am)).decode(),
        "stored_key": sk.hex(),
        "server_key": svk.hex(),
    }


CASES = {
    "rfc5802": ("sha1", "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j",
                base64.b64decode("QSXCR+Q6sek8bf92"), 4096, None),
    "rfc7677": ("sha256", "user", "pencil", "rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096, None),
    "nonascii_sha1": ("sha1", "Jürgen", "密码€é", "clientNONCE", "serverNONCE", b"saltsalt", 4096, None),
    "nonascii_sha256": ("sha256", "用户", "Ωmega€", "clientNONCE", "serverNONCE", b"saltsalt", 4096, None),
    "authzid_escaped_sha256": ("sha256", "a,b=c", "secret", "clientNONCE", "serverNONCE", b"saltsalt", 4096,
                               "admin@example.com"),
    # Channel binding. tls-exporter data: 32 bytes 00..1f (RFC 9266 exports 32 bytes).
    # tls-server-end-point data: SHA-256 of the bytes b"certificate" (stands in for
    # the hash of a server certificate's DER, RFC 5929 §4.1).
    "plus_exporter_sha256": ("sha256", "user", "pencil", "clientNONCE", "serverNONCE", b"saltsalt", 4096,
                             None, ("tls-exporter", bytes(range(32)))),
    "plus_exporter_sha1_authzid": ("sha1", "juliet", "r0m30myr0m30", "clientNONCE", "serverNONCE", b"saltsalt",
                                   4096, "admin@example.com", ("tls-exporter", bytes(range(32)))),
    "plus_endpoint_sha256": ("sha256", "juliet", "r0m30myr0m30", "clientNONCE", "serverNONCE", b"saltsaltsaltsalt", 4096,
                             None, ("tls-server-end-point", hashlib.sha256(b"certificate").digest())),
    "plus_endpoint_sha1": ("sha1", "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j",
                           base64.b64decode("QSXCR+Q6sek8bf92"), 4096,
                           None, ("tls-server-end-point", hashlib.sha256(b"certificate").digest())),
    # Flag y (client can bind, saw no -PLUS): c= is base64("y,,") = eSws.
    "flag_y_sha256": ("sha256", "user", "pencil", "clientNONCE", "serverNONCE", b"saltsalt", 4096,
                      None, None, "y"),
}


def scramp_check(name, c):
    """Runs one tls-server-end-point case through scramp (client and server)."""
    import scramp
    hname, user, pw, cnonce, snonce, salt, i, authzid, cb = c[:9]
    mech = "SCRAM-SHA-%s-PLUS" % ("1" if hname == "sha1" else "256")
    want = scram(*c)
    cl = scramp.ScramClient([mech], user, pw, channel_binding=cb, c_nonce=cnonce)
    assert cl.get_client_first() == want["client_first"], name
    cl.set_server_first(want["server_first"])
    assert cl.get_client_final() == want["client_final"], name
    cl.set_server_final(want["server_final"])
    m = scramp.ScramMechanism(mech)
    info = m.make_auth_info(pw, iteration_count=i, salt=salt)
    sv = m.make_server(lambda u: info, channel_binding=cb, s_nonce=snonce)
    sv.set_client_first(want["client_first"])
    assert sv.get_server_first() == want["server_first"], name
    sv.set_client_final(want["client_final"])
    assert sv.get_server_final() == want["server_final"], name
    return "scramp %s agrees" % getattr(scramp, "__version__", "")

if __name__ == "__main__":
    try:
        import scramp  # noqa: F401
        have_scramp = True
    except ImportError:
        have_scramp = False
    for name, c in CASES.items():
        print(name)
        for k, v in scram(*c).items():
            print("  %s %s" % (k, v))
        if len(c) > 8 and c[8] and c[8][0] == "tls-server-end-point" and c[7] is None:
            print("  " + (scramp_check(name, c) if have_scramp else "(scramp not installed: not cross-checked)"))
