#!/usr/bin/env python3
"""Independent SCRAM (RFC 5802 / RFC 7677) computation with hashlib/hmac.

Produces the expected messages in tests/vectors.rs for cases the RFCs do not
cover (non-ASCII, authzid, escaped names). Strings are chosen so that SASLprep
leaves them unchanged (already NFKC, no mapped or prohibited characters).
"""
import base64
import hashlib
import hmac


def scram(hname, user, pw, cnonce, snonce, salt, i, authzid=None):
    H = lambda b: hashlib.new(hname, b).digest()
    HM = lambda k, m: hmac.new(k, m, hname).digest()
    saslname = lambda s: s.replace("=", "=3D").replace(",", "=2C")
    gs2 = "n,a=%s," % saslname(authzid) if authzid else "n,,"
    bare = "n=%s,r=%s" % (saslname(user), cnonce)
    sfirst = "r=%s%s,s=%s,i=%d" % (cnonce, snonce, base64.b64encode(salt).decode(), i)
    wop = "c=%s,r=%s%s" % (base64.b64encode(gs2.encode()).decode(), cnonce, snonce)
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
}

if __name__ == "__main__":
    for name, c in CASES.items():
        print(name)
        for k, v in scram(*c).items():
            print("  %s %s" % (k, v))
