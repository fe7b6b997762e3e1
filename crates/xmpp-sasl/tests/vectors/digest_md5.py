#!/usr/bin/env python3
"""Independent DIGEST-MD5 (RFC 2831, qop=auth, md5-sess) computation with hashlib.

Used to produce the expected values in tests/vectors.rs; written from RFC 2831
§2.1.2.1, not from the crate. Per-field ISO-8859-1 rule: each of username, realm,
password is encoded as ISO-8859-1 when all its characters fit, else UTF-8.
authzid, nonce, cnonce are hashed as given (UTF-8).
"""
import hashlib


def enc(s, convert=True):
    if convert:
        try:
            return s.encode("iso-8859-1")
        except UnicodeEncodeError:
            pass
    return s.encode("utf-8")


def digest(user, realm, pw, nonce, cnonce, nc, uri, authzid=None, rule="per-field"):
    if rule == "per-field":
        u, r, p = enc(user), enc(realm), enc(pw)
    elif rule == "none":
        u, r, p = user.encode(), realm.encode(), pw.encode()
    elif rule == "password-only":  # GNU SASL 2.2
        u, r, p = user.encode(), realm.encode(), enc(pw)
    ha1raw = hashlib.md5(u + b":" + r + b":" + p).digest()
    a1 = ha1raw + b":" + nonce.encode() + b":" + cnonce.encode()
    if authzid:
        a1 += b":" + authzid.encode()
    h = lambda b: hashlib.md5(b).hexdigest()
    ncs = "%08x" % nc
    def kd(prefix):
        a2 = prefix + ":" + uri
        return h((h(a1) + ":" + nonce + ":" + ncs + ":" + cnonce + ":auth:" + h(a2.encode())).encode())
    return ha1raw.hex(), kd("AUTHENTICATE"), kd("")


CASES = {
    "rfc2831_imap": ("chris", "elwood.innosoft.com", "secret", "OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk", 1, "imap/elwood.innosoft.com", None),
    "rfc2831_acap": ("chris", "elwood.innosoft.com", "secret", "OA9BSXrbuRhWay", "OA9BSuZWMSpW8m", 1, "acap/elwood.innosoft.com", None),
    "seed": ("somenode", "somerealm", "secret", "OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk", 1, "xmpp/example.com", None),
    "libstrophe": ("somenode", "somerealm", "secret", "OA6MG9tEQGm2hh", "00DEADBEEF00", 1, "xmpp/somerealm", None),
    "latin1": ("josé", "example.com", "café", "abcNONCE", "cn0nce", 1, "xmpp/example.com", None),
    "mixed": ("Zoë", "example.com", "Ωmega€", "abcNONCE", "cn0nce", 1, "xmpp/example.com", None),
    "cjk": ("用户", "例子.example", "密码", "abcNONCE", "cn0nce", 1, "xmpp/example.com", None),
    "latin1_realm": ("Jürgen", "bücher.example", "pässword", "abcNONCE", "cn0nce", 1, "xmpp/example.com", None),
    "authzid": ("somenode", "example.com", "secret", "abcNONCE", "cn0nce", 1, "xmpp/example.com", "admin@example.com"),
    "nc10": ("chris", "elwood.innosoft.com", "secret", "OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk", 10, "imap/elwood.innosoft.com", None),
    "nc255": ("chris", "elwood.innosoft.com", "secret", "OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk", 255, "imap/elwood.innosoft.com", None),
    "escaped": ("d\\27artagnan", "example.com", "secret", "abcNONCE", "cn0nce", 1, "xmpp/example.com", None),
    "ejabberd_norealm": ("somenode", "", "secret", "3702925561", "cn0nce", 1, "xmpp/example.com", None),
    "multirealm": ("somenode", "example.com", "secret", "abcNONCE", "cn0nce", 1, "xmpp/example.com", None),
    "cyrus": ("somenode", "example.com", "secret", "J7e2g3ExfRy6tVRzcmCCTvaqeMAV7gRMB02JRRdb3Uw=", "cn0nce", 1, "xmpp/example.com", None),
    "sendmail": ("somenode", "mail.example.com", "secret", "QMw1cRbtvUJ4Rvq6ZNS4ap7uT1VhQqjDXFwSvkGkqQ0=", "cn0nce", 1, "xmpp/example.com", None),
}

if __name__ == "__main__":
    for name, c in CASES.items():
        ha1, resp, rsp = digest(*c)
        print(f"{name}: ha1={ha1} response={resp} rspauth={rsp}")
    for rule in ("none", "password-only"):
        for name in ("latin1", "mixed", "latin1_realm"):
            ha1, resp, rsp = digest(*CASES[name], rule=rule)
            print(f"{name}[{rule}]: ha1={ha1} response={resp} rspauth={rsp}")
