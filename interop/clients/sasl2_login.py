#!/usr/bin/env python3
"""SASL2 (XEP-0388) + Bind2 (XEP-0386) + FAST (XEP-0484) client, Python stdlib only: proves
that the modern peers (Prosody 13, ejabberd 24.12) negotiate the modern way, and is a
readable reference for our own client and server.

    sasl2_login.py --port 15422 --jid somenode@example.com --password-env XMPP_INTEROP_PASSWORD \
                   --mechanism SCRAM-SHA-256 [--fast HT-SHA-256-NONE] [--tag T] [-v]
    sasl2_login.py --port 15422 --jid somenode@example.com --features-only [--tls --ca-file CA]

One login: stream header (with `from` = the bare JID: ejabberd 24.12 offers SASL2 only then),
features, which must offer <authentication xmlns='urn:xmpp:sasl:2'> with --mechanism and an
inline <bind xmlns='urn:xmpp:bind:0'> (and, with --fast, an inline <fast xmlns='urn:xmpp:fast:0'>
listing that mechanism); then <authenticate> with <user-agent id=...>, a Bind2 request with
<tag> and, with --fast, <request-token mechanism=.../>. The <success> must carry the
verified additional data (SCRAM `v=`), an <authorization-identifier> (full JID), <bound/> and,
with --fast, a <token/>. The post-login <stream:features> are read, then the stream closed.
With --fast M the driver then reconnects and logs in again with the FAST mechanism M and that
token: initial response = authcid NUL HMAC-SHA-256(key = token, "Initiator" || cb-data),
success additional data = HMAC-SHA-256(key, "Responder" || cb-data), checked.

Mechanisms: PLAIN, SCRAM-SHA-1/256/512, and with TLS their -PLUS (tls-server-end-point, the
default, or tls-unique on TLS 1.2). FAST: HT-SHA-256-NONE, and with TLS HT-SHA-256-ENDP
(tls-server-end-point) and HT-SHA-256-UNIQ (caps TLS at 1.2). No tls-exporter (Python's ssl
has no exporter), so no -PLUS with it and no HT-*-EXPR.

SCRAM with XEP-0474 (SSDP): an `h=` in server-first is checked against the SASL2 mechanism
list (+ 0x1F + the XEP-0440 channel-binding types when they were advertised) as the XEP
says. --ssdp verify (default: check when present), require (must be present and right),
ignore (report only).

TLS: --tls = STARTTLS required; --direct-tls = TLS from the first byte (XEP-0368, ALPN
xmpp-client); both verify the certificate for the JID's domain against --ca-file only.

Output (stdout), for the tests and the selftest to read:
    FEATURES sasl2=M,M fast=M,M bind=yes|no sm=yes|no sasl1=M,M cb=T,T tls=VERSION|none
    SSDP present=yes|no verified=yes|no|n/a          (SCRAM only)
    TOKEN mechanism=M expiry=E token=T                (the FAST token, a test secret)
    LOGIN OK jid=<full JID> mechanism=<MECH> client=sasl2_login   (one per login)
LOGIN FAILED: ... on stderr and exit 1 otherwise (2 usage, 3 timeout), as driver_common.py.
--user-agent-id fixes the <user-agent id> (FAST tokens are bound to it; default: a constant).
--features-only prints the features element(s) as received (XML) and stops before SASL.
"""
import argparse
import base64
import hashlib
import hmac
import os
import re
import socket
import ssl
import sys
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver_common as common  # noqa: E402
from xmpp_raw import NS_STREAM, NS_TLS, LoginError, Stream, channel_binding_data, q  # noqa: E402

CLIENT = "sasl2_login"
NS_SASL1 = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_SASL2 = "urn:xmpp:sasl:2"
NS_BIND2 = "urn:xmpp:bind:0"
NS_FAST = "urn:xmpp:fast:0"
NS_SM = "urn:xmpp:sm:3"
NS_CB = "urn:xmpp:sasl-cb:0"
MECHANISMS = ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512",
              "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS"]
FAST_MECHANISMS = {"HT-SHA-256-NONE": None, "HT-SHA-256-ENDP": "tls-server-end-point",
                   "HT-SHA-256-UNIQ": "tls-unique"}
CHANNEL_BINDINGS = ["tls-server-end-point", "tls-unique"]
SCRAM_HASHES = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
# A fixed UUID v4: FAST tokens are bound to the user agent id, so a token obtained by one
# run can be used by the next only with the same id.
DEFAULT_UA_ID = "6f1c0a52-3b8e-4d2a-9e47-1c5b7d20a8f3"


class ModernStream(Stream):
    """xmpp_raw's stream, with `from` in the header (XEP-0388 wants it; ejabberd needs it)."""

    def __init__(self, sock, deadline, verbose, jid):
        super().__init__(sock, deadline, verbose)
        self.jid = jid
        self.raw = b""  # everything received on the current stream, to show it as received

    def _read(self):
        """xmpp_raw's reader, also keeping the raw bytes (features are shown as received)."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError()
        self.sock.settimeout(remaining)
        data = self.sock.recv(65536)
        if not data:
            raise LoginError("server closed the connection")
        self.raw += data
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
                    self.header.remove(el)
                elif self.depth == 0:
                    self.closed = True

    def open(self, domain):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth, self.ready, self.header, self.closed = 0, [], None, False
        self.raw = b""
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='%s' to=%s "
                  "from=%s version='1.0' xml:lang='en'>" % (NS_STREAM, quoteattr(domain), quoteattr(self.jid)))
        while self.header is None:
            self._read()
        if self.header.tag != q(NS_STREAM, "stream"):
            raise LoginError("bad stream header %s" % self.header.tag)

    def next_toplevel(self, *wanted):
        """The next element among `wanted` ({ns}name), skipping SM <r/> and the like."""
        while True:
            el = self.next()
            if el.tag in wanted:
                return el
            if el.tag.startswith("{%s}" % NS_SM):
                continue
            raise LoginError("unexpected <%s/>" % el.tag)


def raw_features(raw):
    """The <stream:features> element as the server sent it (prefix and all)."""
    text = raw.decode("utf-8", "replace")
    m = re.search(r"<([A-Za-z0-9_.-]+:)?features[\s>/]", text)
    if not m:
        return text
    end_tag = "</%sfeatures>" % (m.group(1) or "")
    end = text.find(end_tag, m.start())
    return text[m.start():] if end < 0 else text[m.start():end + len(end_tag)]


def b64e(data):
    return base64.b64encode(data).decode()


def b64d(text):
    return base64.b64decode("".join((text or "").split()))


def connect(args):
    """A connected stream (STARTTLS or direct TLS as asked) and its first features."""
    deadline = time.monotonic() + args.timeout
    sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
    ctx = None
    if args.tls or args.direct_tls:
        ctx = ssl.create_default_context(cafile=args.ca_file)
        if args.tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if args.direct_tls:
        ctx.set_alpn_protocols(["xmpp-client"])
        sock = ctx.wrap_socket(sock, server_hostname=args.domain)
    s = ModernStream(sock, deadline, args.verbose, args.jid)
    s.open(args.domain)
    features = s.next()
    shown = [raw_features(s.raw)]
    if args.tls:
        if features.find(q(NS_TLS, "starttls")) is None:
            raise LoginError("server does not offer STARTTLS")
        s.send("<starttls xmlns='%s'/>" % NS_TLS)
        if s.next().tag != q(NS_TLS, "proceed"):
            raise LoginError("STARTTLS refused")
        s.sock = ctx.wrap_socket(s.sock, server_hostname=args.domain)
        s.open(args.domain)
        features = s.next()
        shown.append(raw_features(s.raw))
    return s, features, shown


def names(parent, tag):
    return [m.text.strip() for m in parent.iter(tag) if m.text] if parent is not None else []


def describe(s, features):
    """What the features offer, as one FEATURES line (and a dict)."""
    auth = features.find(q(NS_SASL2, "authentication"))
    inline = auth.find(q(NS_SASL2, "inline")) if auth is not None else None
    fast = inline.find(q(NS_FAST, "fast")) if inline is not None else None
    bind = inline.find(q(NS_BIND2, "bind")) if inline is not None else None
    sm = inline.find(q(NS_SM, "sm")) if inline is not None else None
    # SASL2's own mechanisms are the direct children (the FAST ones are inside <inline>).
    sasl2 = [m.text.strip() for m in auth.findall(q(NS_SASL2, "mechanism"))] if auth is not None else []
    cb_el = features.find(q(NS_CB, "sasl-channel-binding"))
    cb = [c.get("type") for c in cb_el.findall(q(NS_CB, "channel-binding"))] if cb_el is not None else []
    tls = s.sock.version() if isinstance(s.sock, ssl.SSLSocket) else "none"
    info = {
        "sasl2": sasl2, "fast": names(fast, q(NS_FAST, "mechanism")), "bind": bind is not None,
        "sm": sm is not None, "sasl1": names(features.find(q(NS_SASL1, "mechanisms")), q(NS_SASL1, "mechanism")),
        "cb": cb, "cb_advertised": cb_el is not None, "present": auth is not None, "tls": tls,
    }
    print("FEATURES sasl2=%s fast=%s bind=%s sm=%s sasl1=%s cb=%s tls=%s" % (
        ",".join(sasl2) or "-", ",".join(info["fast"]) or "-", "yes" if info["bind"] else "no",
        "yes" if info["sm"] else "no", ",".join(info["sasl1"]) or "-", ",".join(cb) or "-", tls), flush=True)
    return info


def ssdp_expected(info, hname):
    """XEP-0474: H(sorted SASL2 mechanisms joined by 0x1E [+ 0x1F + sorted CB types joined by 0x1E])."""
    data = b"\x1e".join(sorted(m.encode() for m in info["sasl2"]))
    if info["cb_advertised"]:
        data += b"\x1f" + b"\x1e".join(sorted(t.encode() for t in info["cb"]))
    return b64e(hashlib.new(hname, data).digest())


def authenticate(s, args, mech, initial, extra):
    s.send("<authenticate xmlns='%s' mechanism=%s><initial-response>%s</initial-response>"
           "<user-agent id=%s><software>xmpp-negotiate interop</software><device>%s</device></user-agent>"
           "%s</authenticate>" % (NS_SASL2, quoteattr(mech), b64e(initial) if initial else "=",
                                  quoteattr(args.user_agent_id), escape(CLIENT), extra))


def step(s):
    """('challenge'|'success', element) or raise on <failure/>."""
    el = s.next_toplevel(q(NS_SASL2, "challenge"), q(NS_SASL2, "success"), q(NS_SASL2, "failure"),
                         q(NS_SASL2, "continue"))
    name = el.tag.split("}")[1]
    if name == "failure":
        conds = [c.tag.split("}")[1] for c in el if c.tag.split("}")[1] != "text"]
        raise LoginError("SASL2 failure %s %s" % (",".join(conds), el.findtext(q(NS_SASL2, "text")) or ""))
    if name == "continue":
        raise LoginError("SASL2 <continue/> (tasks) not supported by this driver")
    return name, el


def scram(s, args, info, mech, extra, cb):
    plus = mech.endswith("-PLUS")
    hname = SCRAM_HASHES[mech[:-len("-PLUS")] if plus else mech]
    saslname = args.localpart.replace("=", "=3D").replace(",", "=2C")
    cnonce = b64e(os.urandom(18))
    first_bare = "n=%s,r=%s" % (saslname, cnonce)
    # GS2 flag (RFC 5802, XEP-0440): p= when binding; y when we could bind on this TLS
    # stream but the server offers no -PLUS and no binding type; n otherwise.
    offers_cb = info["cb"] or any(m.endswith("-PLUS") for m in info["sasl2"])
    if plus:
        gs2 = "p=%s,," % cb[0]
    elif isinstance(s.sock, ssl.SSLSocket) and not offers_cb:
        gs2 = "y,,"
    else:
        gs2 = "n,,"
    authenticate(s, args, mech, (gs2 + first_bare).encode(), extra)
    kind, el = step(s)
    if kind != "challenge":
        raise LoginError("SCRAM: expected a challenge")
    server_first = b64d(el.text).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    if not attrs["r"].startswith(cnonce):
        raise LoginError("SCRAM: server nonce does not extend ours")
    if "h" in attrs:
        expected = ssdp_expected(info, hname)
        verified = attrs["h"] == expected
        print("SSDP present=yes verified=%s" % ("yes" if verified else "no (got %s, expected %s)"
                                                % (attrs["h"], expected)), flush=True)
        if not verified and args.ssdp != "ignore":
            raise LoginError("SSDP: h=%s does not match the advertised mechanisms (expected %s)"
                             % (attrs["h"], expected))
    else:
        print("SSDP present=no verified=n/a", flush=True)
        if args.ssdp == "require":
            raise LoginError("SSDP: no h= in the server-first message")
    salted = hashlib.pbkdf2_hmac(hname, args.password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hname).digest()
    stored_key = hashlib.new(hname, client_key).digest()
    cbind = gs2.encode() + (cb[1] if plus else b"")
    final_bare = "c=%s,r=%s" % (b64e(cbind), attrs["r"])
    auth_message = ",".join([first_bare, server_first, final_bare]).encode()
    proof = bytes(a ^ b for a, b in zip(client_key, hmac.new(stored_key, auth_message, hname).digest()))
    s.send("<response xmlns='%s'>%s</response>" % (NS_SASL2, b64e(("%s,p=%s" % (final_bare, b64e(proof))).encode())))
    server_key = hmac.new(salted, b"Server Key", hname).digest()
    expected = b"v=" + base64.b64encode(hmac.new(server_key, auth_message, hname).digest())
    kind, el = step(s)
    if kind != "success":
        raise LoginError("SCRAM: expected success")
    if b64d(el.findtext(q(NS_SASL2, "additional-data"))) != expected:
        raise LoginError("SCRAM: server signature missing or wrong in <success>")
    return el


def ht_cb_data(s, mech):
    """The channel-binding data an HT-* mechanism hashes (empty for -NONE)."""
    cb_type = FAST_MECHANISMS[mech]
    return channel_binding_data(s.sock, cb_type) if cb_type else b""


def login(args, mech, token=None):
    """One connection, one SASL2 login; returns (jid, token element or None)."""
    s, features, shown = connect(args)
    try:
        if args.features_only:
            for f in shown:
                print(f)
            return None, None
        info = describe(s, features)
        if not info["present"]:
            raise LoginError("no <authentication xmlns='%s'/> in the features" % NS_SASL2)
        if not info["bind"]:
            raise LoginError("no inline <bind xmlns='%s'/> in <authentication/>" % NS_BIND2)
        fast = mech in FAST_MECHANISMS
        if fast or args.fast:
            if args.fast not in info["fast"]:
                raise LoginError("no inline FAST %s (offered: %s)" % (args.fast, ",".join(info["fast"]) or "none"))
        if not fast and mech not in info["sasl2"]:
            raise LoginError("SASL2 does not offer %s (offered: %s)" % (mech, ",".join(info["sasl2"])))
        extra = "<bind xmlns='%s'><tag>%s</tag></bind>" % (NS_BIND2, escape(args.tag))
        if fast:
            extra += "<fast xmlns='%s'/>" % NS_FAST
        elif args.fast:
            extra += "<request-token xmlns='%s' mechanism=%s/>" % (NS_FAST, quoteattr(args.fast))
        if fast:
            cb_data = ht_cb_data(s, mech)
            key = token.encode()
            ir = args.localpart.encode() + b"\0" + hmac.new(key, b"Initiator" + cb_data, "sha256").digest()
            authenticate(s, args, mech, ir, extra)
            kind, success = step(s)
            if kind != "success":
                raise LoginError("%s: expected success, got a challenge" % mech)
            want = hmac.new(key, b"Responder" + cb_data, "sha256").digest()
            if b64d(success.findtext(q(NS_SASL2, "additional-data"))) != want:
                raise LoginError("%s: responder HMAC missing or wrong in <success>" % mech)
        elif mech == "PLAIN":
            authenticate(s, args, mech, b"\0" + args.localpart.encode() + b"\0" + args.password.encode(), extra)
            kind, success = step(s)
            if kind != "success":
                raise LoginError("PLAIN: unexpected challenge")
        else:
            cb = None
            if mech.endswith("-PLUS"):
                cb = (args.channel_binding, channel_binding_data(s.sock, args.channel_binding))
            success = scram(s, args, info, mech, extra, cb)
        jid = (success.findtext(q(NS_SASL2, "authorization-identifier")) or "").strip()
        if "/" not in jid or jid.split("/")[0] != args.jid:
            raise LoginError("authorization-identifier %r is not a full JID of %s" % (jid, args.jid))
        if success.find(q(NS_BIND2, "bound")) is None:
            raise LoginError("no <bound xmlns='%s'/> in <success/>" % NS_BIND2)
        new_token = success.find(q(NS_FAST, "token"))
        if args.fast and not fast and new_token is None:
            raise LoginError("asked for a FAST token, none in <success/>")
        # No stream restart: the post-login features follow (servers may send <r/> first).
        s.next_toplevel(q(NS_STREAM, "features"))
        s.send("</stream:stream>")
        return jid, new_token
    finally:
        s.sock.close()


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--jid", required=True, help="bare JID user@domain")
    ap.add_argument("--password-env", metavar="VAR", help="password from this variable (default: stdin)")
    ap.add_argument("--mechanism", type=str.upper, default="SCRAM-SHA-256", help=", ".join(MECHANISMS))
    ap.add_argument("--fast", type=str.upper, metavar="MECH",
                    help="request a token for this FAST mechanism, then log in again with it: "
                    + ", ".join(FAST_MECHANISMS))
    ap.add_argument("--tag", default="selftest", help="Bind2 <tag> (default selftest)")
    ap.add_argument("--user-agent-id", default=DEFAULT_UA_ID, metavar="UUID")
    ap.add_argument("--ssdp", choices=["verify", "require", "ignore"], default="verify")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("-v", "--verbose", action="store_true", help="wire log on stderr")
    ap.add_argument("--tls", action="store_true", help="STARTTLS (required)")
    ap.add_argument("--direct-tls", action="store_true", help="TLS from the first byte (XEP-0368)")
    ap.add_argument("--ca-file", metavar="PEM")
    ap.add_argument("--channel-binding", metavar="TYPE", help="for -PLUS: " + ", ".join(CHANNEL_BINDINGS))
    ap.add_argument("--features-only", action="store_true", help="print the features and stop")
    args = ap.parse_args()
    args.client = CLIENT
    tls = args.tls or args.direct_tls
    if args.tls and args.direct_tls:
        common.usage_error(CLIENT, "--tls and --direct-tls exclude each other")
    if tls and not args.ca_file:
        common.usage_error(CLIENT, "--tls/--direct-tls need --ca-file")
    if args.mechanism not in MECHANISMS:
        common.usage_error(CLIENT, "mechanism %s not supported (supported: %s)" % (args.mechanism, ", ".join(MECHANISMS)))
    if args.fast and args.fast not in FAST_MECHANISMS:
        common.usage_error(CLIENT, "FAST mechanism %s not supported (supported: %s)"
                           % (args.fast, ", ".join(FAST_MECHANISMS)))
    plus = args.mechanism.endswith("-PLUS")
    if (plus or (args.fast and FAST_MECHANISMS[args.fast])) and not tls:
        common.usage_error(CLIENT, "channel binding needs --tls or --direct-tls")
    if plus:
        args.channel_binding = args.channel_binding or CHANNEL_BINDINGS[0]
        if args.channel_binding not in CHANNEL_BINDINGS:
            common.usage_error(CLIENT, "channel binding %s not supported" % args.channel_binding)
    elif args.channel_binding:
        common.usage_error(CLIENT, "--channel-binding only goes with a SCRAM-*-PLUS mechanism")
    # tls-unique does not exist on TLS 1.3 (RFC 9266).
    args.tls12 = (plus and args.channel_binding == "tls-unique") or args.fast == "HT-SHA-256-UNIQ"
    if "@" not in args.jid or "/" in args.jid:
        common.usage_error(CLIENT, "--jid must be a bare JID user@domain")
    args.localpart, _, args.domain = args.jid.partition("@")
    args.password = "" if args.features_only else common.read_password(CLIENT, args.password_env)
    return args


def main():
    args = parse_args()
    try:
        jid, token = login(args, args.mechanism)
        if args.features_only:
            return
        print("LOGIN OK jid=%s mechanism=%s client=%s" % (jid, args.mechanism, CLIENT), flush=True)
        if args.fast:
            print("TOKEN mechanism=%s expiry=%s token=%s" % (args.fast, token.get("expiry"), token.get("token")),
                  flush=True)
            jid, rotated = login(args, args.fast, token.get("token"))
            if rotated is not None:
                print("TOKEN mechanism=%s expiry=%s token=%s (rotated)"
                      % (args.fast, rotated.get("expiry"), rotated.get("token")), flush=True)
            print("LOGIN OK jid=%s mechanism=%s client=%s" % (jid, args.fast, CLIENT), flush=True)
    except TimeoutError:
        common.fail(args, "timeout after %.0f s" % args.timeout, common.EXIT_TIMEOUT)
    except (LoginError, OSError, KeyError, ValueError, ET.ParseError, ssl.SSLError) as e:
        common.fail(args, "%s: %s" % (type(e).__name__, e))


if __name__ == "__main__":
    main()
