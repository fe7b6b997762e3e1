#!/usr/bin/env python3
"""Log slixmpp (PyPI) in to an XMPP server with one forced SASL mechanism.

    slix_login.py --host 127.0.0.1 --port 15222 --jid somenode@example.com \
                  --password-env XMPP_INTEROP_PASSWORD --mechanism DIGEST-MD5 [--resource R]
                  [--tls --ca-file CA.pem]

Mechanisms: PLAIN, DIGEST-MD5, SCRAM-SHA-1, SCRAM-SHA-256 (slixmpp's `sasl_mech` makes it use
only that one) and, with --tls, SCRAM-SHA-1-PLUS / SCRAM-SHA-256-PLUS with tls-unique only:
slixmpp takes the binding from Python's ssl module, which has no tls-exporter, and cancels
-PLUS on TLS 1.3; the driver caps TLS at 1.2 for them.
Without --tls, STARTTLS and direct TLS are disabled and every mechanism is allowed on the
unencrypted stream; with --tls, STARTTLS is used with only the given CA trusted, no mechanism
runs unencrypted, and the driver checks that the session is on TLS.
slixmpp fires `session_start` after SASL, restart, bind and (only when the server does not mark
it <optional/>) the legacy session IQ. See driver_common.py for the output/exit contract.
"""
import asyncio
import logging
import ssl

import driver_common as common

args = common.parse_args("slixmpp", ["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256",
                                     "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"], __doc__, ["tls-unique"])
logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL,
                    format="slixmpp %(levelname)s %(message)s")

import slixmpp  # noqa: E402  (after logging setup so import-time warnings stay quiet)


class Client(slixmpp.ClientXMPP):
    def __init__(self, outcome):
        jid = args.jid + ("/" + args.resource if args.resource else "")
        super().__init__(jid, args.password, sasl_mech=args.mechanism)
        self.outcome = outcome
        # Plain TCP, and STARTTLS only with --tls (then mandatory: see on_session).
        self.enable_starttls = args.tls
        self.enable_direct_tls = False
        self.enable_plaintext = True
        if args.tls:
            self.ssl_context = ssl.create_default_context(cafile=args.ca_file)
            if args.tls12:
                self.ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2
        mechs = self.plugin["feature_mechanisms"]
        mechs.unencrypted_plain = not args.tls
        mechs.unencrypted_digest = not args.tls
        mechs.unencrypted_cram = not args.tls
        mechs.unencrypted_scram = not args.tls
        self.add_event_handler("session_start", self.on_session)
        self.add_event_handler("failed_all_auth", lambda *_: self.finish(False, "authentication failed"))
        self.add_event_handler("failed_auth", lambda *_: self.finish(False, "authentication failed"))
        self.add_event_handler("stream_error", lambda e: self.finish(False, "stream error: %s" % e))
        self.add_event_handler("connection_failed", lambda e: self.finish(False, "connection failed: %s" % e))
        self.add_event_handler("disconnected", lambda *_: self.finish(False, "disconnected before login completed"))

    def finish(self, success, detail):
        if not self.outcome.done():
            self.outcome.set_result((success, detail))

    async def on_session(self, _event):
        if args.tls and not isinstance(self.socket, (ssl.SSLSocket, ssl.SSLObject)):
            self.finish(False, "logged in without TLS")
            return
        mech = self.plugin["feature_mechanisms"].mech
        used = getattr(mech, "name", None) or args.mechanism
        self.finish(True, (self.boundjid.full, used))


async def main():
    outcome = asyncio.get_running_loop().create_future()
    client = Client(outcome)
    client.connect(host=args.host, port=args.port)
    try:
        success, detail = await asyncio.wait_for(outcome, args.timeout)
    except asyncio.TimeoutError:
        return False, "timeout after %.0f s" % args.timeout, common.EXIT_TIMEOUT
    finally:
        # Stop any reconnect attempts and close the stream politely.
        client.auto_reconnect = False
        try:
            await asyncio.wait_for(client.disconnect(wait=1.0), 3)
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
    return success, detail, common.EXIT_FAILED


success, detail, code = asyncio.run(main())
if success:
    jid, used = detail
    if used.upper() != args.mechanism:
        common.fail(args, "logged in with %s instead of %s" % (used, args.mechanism))
    common.ok(args, jid, used)
common.fail(args, detail, code)
