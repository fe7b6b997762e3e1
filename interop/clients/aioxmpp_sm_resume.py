#!/usr/bin/env python3
"""aioxmpp (PyPI) with stream management (XEP-0198) and resumption: its StanzaStream.

    aioxmpp_sm_resume.py --host 127.0.0.1 --port P --jid user@domain [--resource R]
                         --password-env VAR --to JID [--before TEXT] [--after TEXT]
                         [--timeout S] [-v]

The resumption drivers' protocol is slix_sm_resume.py's (interop/README.md):
LOGIN OK, ENABLED id=, ACKED <before>, WAITING; `resume` on stdin; RESUMED <previd>,
ACKED <after>, RECEIVED <body> (any time); `quit`; DONE.

aioxmpp.Client enables stream management with resumption by itself when the server offers
it, and after a lost connection reconnects (after its back-off, 1 s at first) and resumes
by itself, or tells on_stream_destroyed that it could not. The driver holds every
connection after the first until `resume` (a connector that waits), so that the session
stays detached on the server until then. A message is ACKED when its StanzaToken resolves:
aioxmpp sends <r/> after each batch of stanzas and resolves the token on the <a/> that
covers it. Without TLS aioxmpp's password provider runs SCRAM only. aioxmpp prefers an
<enabled location=...> for reconnecting over the driver's connector: the servers tested
here send none. Command line and output rules: session_common.py.
"""
import asyncio
import logging

import session_common as common

args = common.parse_args("aioxmpp", __doc__, resume=True)
logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL,
                    format="aioxmpp %(levelname)s %(name)s %(message)s")

import aioxmpp  # noqa: E402
import aioxmpp.connector  # noqa: E402
import aioxmpp.dispatcher  # noqa: E402


class GatedConnector(aioxmpp.connector.STARTTLSConnector):
    """STARTTLS if offered (the servers here offer none on these ports), once `gate` is open."""

    def __init__(self, gate):
        super().__init__()
        self.gate = gate

    async def connect(self, *a, **kw):
        await self.gate.wait()
        return await super().connect(*a, **kw)


def message(body):
    msg = aioxmpp.Message(to=aioxmpp.JID.fromstr(args.to), type_=aioxmpp.MessageType.CHAT)
    msg.body[None] = body
    return msg


async def main(loop):
    stdin = common.Instructions(loop)
    gate = asyncio.Event()
    gate.set()
    layer = aioxmpp.make_security_layer(args.password, no_verify=True)._replace(tls_required=False)
    client = aioxmpp.Client(aioxmpp.JID.fromstr(args.full), layer,
                            override_peer=[(args.host, args.port, GatedConnector(gate))])
    events = asyncio.Queue()
    client.on_stream_established.connect(lambda: events.put_nowait(("established", None)))
    client.on_stream_resumed.connect(lambda: events.put_nowait(("resumed", None)))
    client.on_stream_suspended.connect(lambda e: events.put_nowait(("suspended", e)))
    client.on_stream_destroyed.connect(lambda e=None: events.put_nowait(("destroyed", e)))
    client.on_failure.connect(lambda e: events.put_nowait(("failure", e)))

    def on_message(msg):
        text = msg.body.any() if msg.body else None
        if text and msg.type_ != aioxmpp.MessageType.ERROR:
            common.say("RECEIVED", common.escape(text))

    client.summon(aioxmpp.dispatcher.SimpleMessageDispatcher).register_callback(None, None, on_message)

    async def expect(name):
        got, e = await events.get()
        if got != name:
            common.fail(args, "expected %s, got %s (%s)" % (name, got, e))
        return e

    client.start()
    await expect("established")
    common.say("LOGIN OK", "jid=%s" % (client.local_jid,), "client=aioxmpp")
    if not (client.stream.sm_enabled and client.stream.sm_resumable):
        common.fail(args, "stream management with resumption is not on (enabled=%s)"
                    % client.stream.sm_enabled)
    previd = client.stream.sm_id
    common.say("ENABLED", "id=%s" % previd)
    await client.enqueue(message(args.before))
    common.say("ACKED", common.escape(args.before))
    gate.clear()
    common.say("WAITING")
    instruction = await stdin.next()
    if instruction != "resume":
        common.fail(args, "expected `resume`, got %r" % instruction, common.EXIT_USAGE)
    await expect("suspended")
    gate.set()
    await expect("resumed")
    if client.stream.sm_id != previd:
        common.fail(args, "resumed %s, not %s" % (client.stream.sm_id, previd))
    common.say("RESUMED", previd)
    await client.enqueue(message(args.after))
    common.say("ACKED", common.escape(args.after))
    while await stdin.next() != "quit":
        pass
    stopped = asyncio.Event()
    client.on_stopped.connect(lambda: stopped.set())
    client.stop()
    await stopped.wait()
    common.say("DONE")


async def run():
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(main(loop), args.timeout)
    except asyncio.TimeoutError:
        common.fail(args, "timeout after %.0f s" % args.timeout, common.EXIT_TIMEOUT)
    except Exception as e:  # noqa: BLE001 - any library error is a failure
        common.fail(args, "%s: %s" % (type(e).__name__, e))


asyncio.run(run())
