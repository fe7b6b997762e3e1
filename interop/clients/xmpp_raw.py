#!/usr/bin/env python3
"""Minimal raw-socket XMPP c2s client, Python stdlib only: a readable reference and a
diagnostic tool for the interop suite (STARTTLS with --tls, through the ssl module).

    xmpp_raw.py --host 127.0.0.1 --port 15222 --jid somenode@example.com \
                --password-env XMPP_INTEROP_PASSWORD --mechanism DIGEST-MD5 [--resource R] [-v]
    xmpp_raw.py --port 15222 --jid somenode@example.com --features-only < /dev/null

Does: stream header, features, SASL (PLAIN, DIGEST-MD5 per RFC 2831 with qop=auth,
SCRAM-SHA-1/256/512 per RFC 5802, verifying rspauth / the server signature), stream
restart, bind, session (only when offered without <optional/>, or always with
--session always), then closes the stream. -v prints the wire traffic to stderr.
With --tls: STARTTLS first (required), certificate checked against --ca-file for the
domain, and SCRAM-SHA-*-PLUS with --channel-binding tls-server-end-point (RFC 5929 §4,
the default) or tls-unique (TLS 1.2 only). No tls-exporter: Python's ssl module has no
keying-material exporter.
Output/exit contract as in driver_common.py.
"""
import base64
import hashlib
import hmac
import os
import socket
import ssl
import sys
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

NS_STREAM = "http://etherx.jabber.org/streams"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
MECHANISMS = ["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512",
              "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS"]
CHANNEL_BINDINGS = ["tls-server-end-point", "tls-unique"]


def q(ns, name):
    return "{%s}%s" % (ns, name)


class LoginError(Exception):
    pass


class Stream:
    """One TCP connection; a new XML parser per stream (restart after SASL success)."""

    def __init__(self, sock, deadline, verbose):
        self.sock, self.deadline, self.verbose = sock, deadline, verbose
        self.header = None

    def send(self, text):
        if self.verbose:
            print("C: " + text, file=sys.stderr)
        self.sock.sendall(text.encode("utf-8"))

    def open(self, domain):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth, self.ready, self.header, self.closed = 0, [], None, False
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='%s' to=%s "
                  "version='1.0' xml:lang='en'>" % (NS_STREAM, quoteattr(domain)))
        while self.header is None:
            self._read()
        if self.header.tag != q(NS_STREAM, "stream"):
            raise LoginError("bad stream header %s" % self.header.tag)

    def _read(self):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError()
        self.sock.settimeout(remaining)
        data = self.sock.recv(65536)
        if not data:
            raise LoginError("server closed the connection")
        if self.verbose:
            print("S: " + data.decode("utf-8", "replace"), file=sys.stderr)
        self.parser.feed(data)
        for event, el in self.parser.read_events():
            if event == "start":
                if self.depth == 0:
                    self.header = el
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.ready.append(el)
                    self.header.remove(el)  # keep memory flat
                elif self.depth == 0:
                    self.closed = True

    def next(self):
        while not self.ready:
            if self.closed:
                raise LoginError("server closed the stream")
            self._read()
        el = self.ready.pop(0)
        if el.tag == q(NS_STREAM, "error"):
            conds = [c.tag.split("}")[1] for c in el if not c.tag.endswith("}text")]
            raise LoginError("stream error %s" % ",".join(conds))
        return el


def der_tlv(der, i):
    """(tag, start, end) of the DER element at offset i (contents are der[start:end])."""
    tag, length = der[i], der[i + 1]
    i += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(der[i:i + n], "big")
        i += n
    return tag, i, i + length


# signatureAlgorithm OIDs (DER contents) whose hash is not SHA-256 for tls-server-end-point.
SIG_HASHES = {
    bytes.fromhex("2a864886f70d01010c"): "sha384",  # sha384WithRSAEncryption
    bytes.fromhex("2a864886f70d01010d"): "sha512",  # sha512WithRSAEncryption
    bytes.fromhex("2a8648ce3d040303"): "sha384",  # ecdsa-with-SHA384
    bytes.fromhex("2a8648ce3d040304"): "sha512",  # ecdsa-with-SHA512
}


def end_point_hash(der):
    """RFC 5929 §4.1: hash of the certificate with its signature's hash, SHA-256 for MD5/SHA-1."""
    _, cert, _ = der_tlv(der, 0)
    _, _, tbs_end = der_tlv(der, cert)
    _, alg, _ = der_tlv(der, tbs_end)
    _, oid, oid_end = der_tlv(der, alg)
    return hashlib.new(SIG_HASHES.get(der[oid:oid_end], "sha256"), der).digest()


def channel_binding_data(sock, cb):
    if cb == "tls-unique":
        return sock.get_channel_binding("tls-unique")
    if cb == "tls-server-end-point":
        return end_point_hash(sock.getpeercert(binary_form=True))
    raise LoginError("unsupported channel binding %s" % cb)


def b64(data):
    return base64.b64encode(data).decode() if data else "="


def unb64(text):
    return base64.b64decode((text or "").strip())


def parse_directives(text):
    """RFC 2831 key=value / key="quoted value" list (commas inside quotes allowed)."""
    out, i = {}, 0
    while i < len(text):
        while i < len(text) and text[i] in " \t,":
            i += 1
        eq = text.find("=", i)
        if eq < 0:
            break
        key = text[i:eq].strip().lower()
        i = eq + 1
        if i < len(text) and text[i] == '"':
            i += 1
            val = []
            while i < len(text) and text[i] != '"':
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                val.append(text[i])
                i += 1
            i += 1
            value = "".join(val)
        else:
            end = text.find(",", i)
            end = len(text) if end < 0 else end
            value = text[i:end].strip()
            i = end
        out[key] = value
    return out


def sasl_exchange(stream, mech, user, password, domain, cb=None):
    """Run SASL with `mech`; return the additional data of <success/> verified, or raise.
    `cb` is (type, data) for SCRAM-*-PLUS."""
    def step(reply_to_challenge):
        el = stream.next()
        name = el.tag.split("}")[1]
        if el.tag == q(NS_SASL, "challenge"):
            return "challenge", unb64(el.text)
        if el.tag == q(NS_SASL, "success"):
            return "success", unb64(el.text)
        if el.tag == q(NS_SASL, "failure"):
            conds = [c.tag.split("}")[1] for c in el if not c.tag.endswith("}text")]
            text = el.findtext(q(NS_SASL, "text")) or ""
            raise LoginError("SASL failure %s %s" % (",".join(conds), text))
        raise LoginError("unexpected <%s/> during SASL" % name)

    def auth(initial):
        stream.send("<auth xmlns='%s' mechanism='%s'>%s</auth>"
                    % (NS_SASL, mech, b64(initial) if initial is not None else ""))

    def respond(data):
        stream.send("<response xmlns='%s'>%s</response>" % (NS_SASL, base64.b64encode(data).decode()))

    if mech == "PLAIN":
        auth(b"\0" + user.encode() + b"\0" + password.encode())
        kind, _ = step(None)
        if kind != "success":
            raise LoginError("PLAIN: unexpected challenge")
        return

    if mech == "DIGEST-MD5":
        auth(None)
        kind, data = step(None)
        if kind != "challenge":
            raise LoginError("DIGEST-MD5: expected a challenge")
        d = parse_directives(data.decode("utf-8"))
        if "auth" not in [x.strip() for x in d.get("qop", "auth").split(",")]:
            raise LoginError("DIGEST-MD5: server does not offer qop=auth")
        realm = d.get("realm", "")
        nonce, cnonce, nc = d["nonce"], base64.b64encode(os.urandom(18)).decode(), "00000001"
        uri = "xmpp/" + domain
        md5 = lambda b: hashlib.md5(b).digest()  # noqa: E731
        hexmd5 = lambda b: hashlib.md5(b).hexdigest()  # noqa: E731
        a1 = md5(("%s:%s:%s" % (user, realm, password)).encode()) + (":%s:%s" % (nonce, cnonce)).encode()

        def kd(a2):
            return hexmd5(("%s:%s:%s:%s:auth:%s" % (hexmd5(a1), nonce, nc, cnonce, hexmd5(a2.encode()))).encode())

        resp = ('username="%s",realm="%s",nonce="%s",cnonce="%s",nc=%s,qop=auth,digest-uri="%s",'
                'response=%s,charset=utf-8' % (user, realm, nonce, cnonce, nc, uri, kd("AUTHENTICATE:" + uri)))
        respond(resp.encode())
        expected = "rspauth=" + kd(":" + uri)
        kind, data = step(None)
        if kind == "challenge":  # RFC 3920 style: rspauth in a challenge, then an empty response
            if data.decode() != expected:
                raise LoginError("DIGEST-MD5: wrong rspauth %r" % data)
            stream.send("<response xmlns='%s'/>" % NS_SASL)
            kind, data = step(None)
            if kind != "success":
                raise LoginError("DIGEST-MD5: expected success")
        elif data and data.decode() != expected:  # RFC 6120 style: rspauth in success
            raise LoginError("DIGEST-MD5: wrong rspauth in success %r" % data)
        return

    plus = mech.endswith("-PLUS")
    hname = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256",
             "SCRAM-SHA-512": "sha512"}[mech[:-len("-PLUS")] if plus else mech]
    saslname = user.replace("=", "=3D").replace(",", "=2C")
    cnonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (saslname, cnonce)
    gs2_header = ("p=%s,," % cb[0]) if plus else "n,,"
    cbind_input = gs2_header.encode() + (cb[1] if plus else b"")
    auth((gs2_header + first_bare).encode())
    kind, server_first = step(None)
    if kind != "challenge":
        raise LoginError("SCRAM: expected a challenge")
    f = dict(kv.split("=", 1) for kv in server_first.decode().split(","))
    if not f["r"].startswith(cnonce):
        raise LoginError("SCRAM: server nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac(hname, password.encode(), base64.b64decode(f["s"]), int(f["i"]))
    client_key = hmac.new(salted, b"Client Key", hname).digest()
    stored_key = hashlib.new(hname, client_key).digest()
    final_bare = "c=%s,r=%s" % (base64.b64encode(cbind_input).decode(), f["r"])
    auth_message = ",".join([first_bare, server_first.decode(), final_bare]).encode()
    signature = hmac.new(stored_key, auth_message, hname).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    respond(("%s,p=%s" % (final_bare, base64.b64encode(proof).decode())).encode())
    server_key = hmac.new(salted, b"Server Key", hname).digest()
    expected = b"v=" + base64.b64encode(hmac.new(server_key, auth_message, hname).digest())
    kind, data = step(None)
    if kind == "challenge":  # server-final in a challenge: answer with an empty response
        final = data
        stream.send("<response xmlns='%s'/>" % NS_SASL)
        kind, _ = step(None)
        if kind != "success":
            raise LoginError("SCRAM: expected success")
    else:
        final = data
    if final != expected:
        raise LoginError("SCRAM: server signature mismatch %r" % final)


def login(args):
    deadline = time.monotonic() + args.timeout
    sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
    try:
        s = Stream(sock, deadline, args.verbose)
        s.open(args.domain)
        features = s.next()
        if args.tls:
            if features.find(q(NS_TLS, "starttls")) is None:
                raise LoginError("server does not offer STARTTLS")
            s.send("<starttls xmlns='%s'/>" % NS_TLS)
            if s.next().tag != q(NS_TLS, "proceed"):
                raise LoginError("STARTTLS refused")
            ctx = ssl.create_default_context(cafile=args.ca_file)
            if args.tls12:
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            sock = s.sock = ctx.wrap_socket(sock, server_hostname=args.domain)
            s.open(args.domain)
            features = s.next()
        mechs = [m.text for m in features.iter(q(NS_SASL, "mechanism"))]
        if args.features_only:
            print("header: %s" % dict(s.header.attrib))
            if args.tls:
                print("tls: %s %s" % (sock.version(), sock.cipher()[0]))
            print("mechanisms: %s" % " ".join(mechs))
            print("features: %s" % " ".join(c.tag for c in features))
            return None
        if args.mechanism not in mechs:
            raise LoginError("server does not offer %s (offered: %s)" % (args.mechanism, ",".join(mechs)))
        cb = None
        if args.plus:
            cb = (args.channel_binding, channel_binding_data(sock, args.channel_binding))
        sasl_exchange(s, args.mechanism, args.localpart, args.password, args.domain, cb)
        s.open(args.domain)
        features = s.next()
        bind_feature = features.find(q(NS_BIND, "bind"))
        if bind_feature is None:
            raise LoginError("no <bind/> feature after SASL")
        res = "<resource>%s</resource>" % escape(args.resource) if args.resource else ""
        s.send("<iq type='set' id='bind1'><bind xmlns='%s'>%s</bind></iq>" % (NS_BIND, res))
        iq = s.next()
        jid = iq.findtext("%s/%s" % (q(NS_BIND, "bind"), q(NS_BIND, "jid")))
        if iq.get("type") != "result" or not jid:
            raise LoginError("bind failed: %s" % ET.tostring(iq, encoding="unicode"))
        session = features.find(q(NS_SESSION, "session"))
        optional = session is not None and session.find(q(NS_SESSION, "optional")) is not None
        if args.session == "always" or (args.session == "auto" and session is not None and not optional):
            s.send("<iq type='set' id='sess1'><session xmlns='%s'/></iq>" % NS_SESSION)
            iq = s.next()
            if iq.get("type") != "result":
                raise LoginError("session failed: %s" % ET.tostring(iq, encoding="unicode"))
        s.send("</stream:stream>")
        return jid
    finally:
        sock.close()


def main():
    import driver_common as common

    # Our own extra options, removed before the common parser runs.
    features_only = "--features-only" in sys.argv
    if features_only:
        sys.argv.remove("--features-only")
        sys.argv += ["--mechanism", "PLAIN"] if "--mechanism" not in sys.argv else []
        os.environ.setdefault("XMPP_RAW_NO_PASSWORD", "")
        sys.argv += ["--password-env", "XMPP_RAW_NO_PASSWORD"] if "--password-env" not in sys.argv else []
    session = "auto"
    if "--session" in sys.argv:
        i = sys.argv.index("--session")
        session = sys.argv[i + 1] if i + 1 < len(sys.argv) else ""
        del sys.argv[i:i + 2]
        if session not in ("auto", "always", "never"):
            common.usage_error("xmpp_raw", "--session must be auto, always or never")
    args = common.parse_args("xmpp_raw", MECHANISMS, __doc__, CHANNEL_BINDINGS)
    args.features_only, args.session = features_only, session
    try:
        jid = login(args)
    except TimeoutError:
        common.fail(args, "timeout after %.0f s" % args.timeout, common.EXIT_TIMEOUT)
    except (LoginError, OSError, KeyError, ValueError, ET.ParseError, ssl.SSLError) as e:
        common.fail(args, "%s: %s" % (type(e).__name__, e))
    if jid is not None:
        common.ok(args, jid)


if __name__ == "__main__":
    main()
