#!/usr/bin/env python3
"""Loopback TCP proxy that tampers with the first <stream:features> a server sends on a
plaintext stream: a man in the middle for downgrade tests (XEP-0474 SSDP, XEP-0440, the
SCRAM GS2 flag).

    tamper_proxy.py --mode strip-cb,strip-plus --listen 0 --upstream-port 15422 [--lifetime 600]

Modes (comma-separated, applied in this order):
  strip-cb    delete <sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>...</sasl-channel-binding>
  strip-plus  delete every <mechanism>...-PLUS</mechanism>, in <mechanisms> (SASL1) and in
              <authentication xmlns='urn:xmpp:sasl:2'> alike (FAST's HT-* names are kept)

Per accepted connection it relays to the upstream server; it holds back what the server
sends until the first <stream:features> element is complete, rewrites only that element,
and from then on relays both directions verbatim (so after STARTTLS it sees nothing but
ciphertext: only a plaintext stream's features can be tampered with). It records what it
deleted and the mechanism the client then chose (<auth mechanism=...> or SASL2
<authenticate mechanism=...>). The real peers offer no -PLUS and no XEP-0440 element on
plaintext: against them the proxy deletes nothing and says so.

Standalone it prints `tamper_proxy listening on 127.0.0.1:PORT ...` on stdout once it
accepts connections (PORT is the one chosen when --listen is 0), one `tampered: ...` line
per connection on stdout, and stops after --lifetime seconds. In process:
`TamperProxy(["strip-plus"], "127.0.0.1", port).start_in_thread()` -> (port, stop), then
`.removed` / `.chosen`. Stdlib only; listens and connects on 127.0.0.1 only.
"""
import argparse
import asyncio
import re
import sys

from mech_filter_proxy import MechFilterProxy

MODES = ("strip-cb", "strip-plus")
# The first features element, whatever its prefix (RFC 6120 servers use `stream:`).
FEATURES_RE = re.compile(rb"<(?P<p>[A-Za-z0-9_.-]+:)?features[\s>/]")
CB_RE = re.compile(
    rb"<sasl-channel-binding\b[^>]*\bxmlns\s*=\s*['\"]urn:xmpp:sasl-cb:0['\"][^>]*"
    rb"(?:/>|>.*?</sasl-channel-binding\s*>)", re.S)
PLUS_RE = re.compile(rb"<mechanism\s*>\s*[^<\s]+-PLUS\s*</mechanism\s*>")
CHOSEN_RE = re.compile(rb"<(?:auth|authenticate)\b[^>]*\bmechanism\s*=\s*['\"]([^'\"]+)['\"]")
# Give up rewriting (and relay as is, saying so) if no complete features come within this.
MAX_HOLD = 256 * 1024


def tamper(features, modes):
    """`features` (bytes of one element) with the modes applied, and the deleted parts."""
    removed = []
    for mode, pattern in (("strip-cb", CB_RE), ("strip-plus", PLUS_RE)):
        if mode in modes:
            removed += [m.group(0).decode("utf-8", "replace") for m in pattern.finditer(features)]
            features = pattern.sub(b"", features)
    return features, removed


class TamperProxy(MechFilterProxy):
    def __init__(self, modes, upstream_host, upstream_port, log=None):
        super().__init__([], upstream_host, upstream_port)
        unknown = set(modes) - set(MODES)
        if unknown or not modes:
            raise ValueError("modes must be among %s, got %s" % (", ".join(MODES), ",".join(modes)))
        self.modes = list(modes)
        self.removed = []  # per connection: the elements deleted from its first features
        self.log = log

    def _watch(self, data):
        for m in CHOSEN_RE.findall(data):
            self.chosen.append(m.decode(errors="replace"))
        return data

    def _server_to_client(self):
        """A stateful transform for one connection's server-to-client bytes."""
        state = {"held": b"", "done": False}

        def transform(data):
            if state["done"]:
                return data
            held = state["held"] + data
            start = FEATURES_RE.search(held)
            end = -1
            if start:
                end_tag = b"</%sfeatures>" % (start.group("p") or b"")
                end = held.find(end_tag, start.start())
                if end >= 0:
                    end += len(end_tag)
                elif re.match(rb"<[^>]*/>", held[start.start():]):  # <stream:features/>
                    end = held.index(b"/>", start.start()) + 2
            if end < 0:
                if len(held) > MAX_HOLD:
                    state["done"] = True
                    self._report(None)
                    return held
                state["held"] = held
                return b""
            state["done"] = True
            new, removed = tamper(held[start.start():end], self.modes)
            self._report(removed)
            return held[:start.start()] + new + held[end:]

        return transform

    def _report(self, removed):
        self.removed.append(removed)
        if self.log:
            if removed is None:
                self.log("tampered: nothing (no complete <features> in the first %d bytes)" % MAX_HOLD)
            else:
                self.log("tampered: removed %d element(s)%s" % (len(removed), "".join(" " + r for r in removed)))

    async def _handle(self, client_r, client_w):
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(self._pipe(client_r, up_w, self._watch),
                             self._pipe(up_r, client_w, self._server_to_client()))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", required=True, help="comma-separated: " + ", ".join(MODES))
    ap.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1 (0: any free one)")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--upstream-host", default="127.0.0.1")
    ap.add_argument("--lifetime", type=float, default=600)
    a = ap.parse_args()
    if a.upstream_host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("--upstream-host must be a loopback address")
    out = lambda line: print(line, flush=True)  # noqa: E731
    try:
        proxy = TamperProxy([m.strip() for m in a.mode.split(",") if m.strip()], a.upstream_host,
                            a.upstream_port, log=out)
    except ValueError as e:
        ap.error(str(e))

    def ready(port):
        out("tamper_proxy listening on 127.0.0.1:%d -> %s:%d, modes %s"
            % (port, a.upstream_host, a.upstream_port, ",".join(proxy.modes)))

    try:
        asyncio.run(proxy.serve(a.listen, ready=ready, lifetime=a.lifetime))
    except asyncio.TimeoutError:
        pass
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
