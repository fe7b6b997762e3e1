#!/usr/bin/env python3
"""slixmpp (PyPI) with stream management (XEP-0198, plugin xep_0198) and resumption.

    slix_sm_resume.py --host 127.0.0.1 --port P --jid user@domain [--resource R]
                      --password-env VAR --to JID [--before TEXT] [--after TEXT]
                      [--timeout S] [-v]

The resumption drivers' protocol (interop/README.md): on stdout

    LOGIN OK jid=<full JID> client=slixmpp
    ENABLED id=<SM-ID>                      (stream management on, resumable)
    ACKED <before>                          (the server acknowledged the first message)
    WAITING                                 (cut the connection now; then `resume` on stdin)
    RESUMED <previd>                        (after `resume`: on a new connection)
    ACKED <after>                           (the second message, sent after resuming)
    RECEIVED <body>                         (any message with a body, not an error, at any time)
    DONE                                    (after `quit` or the end of stdin: closed cleanly)

It reconnects only after `resume` (so the session stays detached on the server until then),
and fails (exit 1) if the server does not offer resumption, refuses it, or binds a new
session instead. slixmpp 1.17 does not reconnect on its own: the driver calls connect()
again; xep_0198 then sends <resume previd h> before binding. Its `window` would write each
<r/> ahead of the stanza it is meant for (the outgoing filter runs before the stanza is
written), so the driver turns it off and queues an <r/> behind each message itself.
Command line and output rules: session_common.py.
"""
import asyncio
import logging

import session_common as common

args = common.parse_args("slixmpp", __doc__, resume=True)
logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL,
                    format="slixmpp %(levelname)s %(message)s")

import slixmpp  # noqa: E402


class Client(slixmpp.ClientXMPP):
    def __init__(self, loop):
        super().__init__(args.full, args.password)
        self.enable_starttls = False
        self.enable_direct_tls = False
        self.enable_plaintext = True
        mechs = self.plugin["feature_mechanisms"]
        mechs.unencrypted_plain = mechs.unencrypted_digest = True
        mechs.unencrypted_cram = mechs.unencrypted_scram = True
        self.register_plugin("xep_0198")
        self.sm = self.plugin["xep_0198"]
        # No <r/> from the window: slixmpp 1.17 writes it from the outgoing filter, before
        # the stanza that triggered it, so its answer never covers that stanza. message()
        # queues one behind each message instead.
        self.sm.window = self.sm.window_counter = 2 ** 31
        self.sm.allow_resume = True
        self.events = asyncio.Queue()
        self.sessions = 0
        for event in ("session_start", "sm_enabled", "session_resumed", "sm_failed", "disconnected",
                      "stanza_acked", "failed_all_auth", "stream_error", "connection_failed"):
            self.add_event_handler(event, lambda e, name=event: self.events.put_nowait((name, e)))
        self.add_event_handler("message", self.on_message)

    def on_message(self, msg):
        if msg["body"] and msg["type"] != "error":
            common.say("RECEIVED", common.escape(msg["body"]))

    async def expect(self, *names):
        """The next event of `names`; a failure event on the way fails the driver."""
        while True:
            name, e = await self.events.get()
            if name in names:
                return e
            if name in ("sm_failed", "failed_all_auth", "stream_error", "connection_failed"):
                common.fail(args, "%s: %s" % (name, e))
            if name == "session_start" and self.sessions:
                common.fail(args, "a new session was bound instead of resuming")
            if name == "session_start":
                self.sessions += 1

    def message(self, body):
        self.send_message(mto=args.to, mbody=body, mtype="chat")
        self.send(str(self.sm.stanza.RequestAck(self)), use_filters=False)

    async def acked(self, body):
        while True:
            stanza = await self.expect("stanza_acked")
            if getattr(stanza, "name", None) == "message" and stanza["body"] == body:
                common.say("ACKED", common.escape(body))
                return


async def main(loop):
    client = Client(loop)
    stdin = common.Instructions(loop)
    client.connect(host=args.host, port=args.port)
    await client.expect("session_start")
    client.sessions = 1
    common.say("LOGIN OK", "jid=%s" % client.boundjid.full, "client=slixmpp")
    enabled = await client.expect("sm_enabled")
    if not enabled["id"] or not client.sm.sm_id:
        common.fail(args, "the server offers no resumption: %s" % enabled)
    common.say("ENABLED", "id=%s" % client.sm.sm_id)
    previd = client.sm.sm_id
    client.message(args.before)
    await client.acked(args.before)
    common.say("WAITING")
    instruction = await stdin.next()
    if instruction != "resume":
        common.fail(args, "expected `resume`, got %r" % instruction, common.EXIT_USAGE)
    if client.transport is not None:
        await client.expect("disconnected")
    client.connect(host=args.host, port=args.port)
    resumed = await client.expect("session_resumed")
    if resumed["previd"] != previd:
        common.fail(args, "resumed %s, not %s" % (resumed["previd"], previd))
    common.say("RESUMED", resumed["previd"])
    client.message(args.after)
    await client.acked(args.after)
    while await stdin.next() != "quit":
        pass
    client.del_event_handler("message", client.on_message)
    await client.disconnect(wait=2.0)
    common.say("DONE")


async def run():
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(main(loop), args.timeout)
    except asyncio.TimeoutError:
        common.fail(args, "timeout after %.0f s" % args.timeout, common.EXIT_TIMEOUT)


asyncio.run(run())
