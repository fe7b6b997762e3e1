#!/usr/bin/env python3
"""slixmpp (PyPI) as the recipient of messages: logs in, becomes available, prints what comes.

    slix_receive.py --host 127.0.0.1 --port 15222 --jid somenode@example.com --resource inbox \
                    --password-env XMPP_INTEROP_PASSWORD [--count N] [--timeout S] [-v]

After the login it sends its initial presence and pings the server (XEP-0199; the server
has handled the presence once the answer comes, a result or an error), then prints

    READY jid=<bound full JID> client=slixmpp

and for every message with a body, in order of arrival,

    RECEIVED from=<JID> type=<type> <body, escaped as in session_common.py>

It stops after --count messages (default: never), at the end of stdin or on a `quit` line,
and exits 0 after closing the stream; after --timeout it fails (exit 3). Plain TCP only,
every mechanism allowed; slixmpp picks. Command line and line protocol: session_common.py.
"""
import argparse
import asyncio
import logging
import sys

import session_common as common

# --count is this driver's own: take it out before the common parser sees the command line.
extra = argparse.ArgumentParser(add_help=False)
extra.add_argument("--count", type=int, default=0)
known, sys.argv[1:] = extra.parse_known_args(sys.argv[1:])
args = common.parse_args("slixmpp", __doc__)
logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL,
                    format="slixmpp %(levelname)s %(message)s")

import slixmpp  # noqa: E402


class Receiver(slixmpp.ClientXMPP):
    def __init__(self, ready, done):
        super().__init__(args.full, args.password)
        self.enable_starttls = False
        self.enable_direct_tls = False
        self.enable_plaintext = True
        mechs = self.plugin["feature_mechanisms"]
        mechs.unencrypted_plain = mechs.unencrypted_digest = True
        mechs.unencrypted_cram = mechs.unencrypted_scram = True
        self.ready, self.done, self.received = ready, done, 0
        self.closing = False
        self.add_event_handler("session_start", self.on_session)
        self.add_event_handler("message", self.on_message)
        for event in ("failed_all_auth", "stream_error", "connection_failed", "disconnected"):
            self.add_event_handler(event, lambda e, event=event: self.stop("%s: %s" % (event, e)))

    def stop(self, why):
        if self.closing:
            return
        for f in (self.ready, self.done):
            if not f.done():
                f.set_exception(RuntimeError(why))

    async def on_session(self, _event):
        self.send_presence()
        ping = self.make_iq_get(queryxmlns="urn:xmpp:ping", ito=self.boundjid.domain)
        try:
            await ping.send()
        except slixmpp.exceptions.IqError:
            pass
        common.say("READY", "jid=%s" % self.boundjid.full, "client=slixmpp")
        self.ready.set_result(None)

    def on_message(self, msg):
        if not msg["body"]:
            return
        common.say("RECEIVED", "from=%s" % msg["from"], "type=%s" % msg["type"], common.escape(msg["body"]))
        self.received += 1
        if known.count and self.received >= known.count and not self.done.done():
            self.done.set_result(None)


async def main():
    loop = asyncio.get_running_loop()
    ready, done = loop.create_future(), loop.create_future()
    client = Receiver(ready, done)
    client.connect(host=args.host, port=args.port)
    try:
        await asyncio.wait_for(ready, args.timeout)
        stdin = common.Instructions(loop)

        async def quit_line():
            while await stdin.next() != "quit":
                pass

        waiter = asyncio.ensure_future(quit_line())
        await asyncio.wait_for(asyncio.wait([waiter, done], return_when=asyncio.FIRST_COMPLETED), args.timeout)
        if done.done() and done.exception():
            raise done.exception()
    except asyncio.TimeoutError:
        common.fail(args, "timeout after %.0f s" % args.timeout, common.EXIT_TIMEOUT)
    except Exception as e:  # noqa: BLE001 - any library error is a failure
        common.fail(args, str(e))
    client.closing = True
    await client.disconnect(wait=2.0)


asyncio.run(main())
