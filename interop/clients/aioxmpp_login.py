#!/usr/bin/env python3
"""Log aioxmpp (PyPI) in to an XMPP server over plaintext TCP with one forced SASL mechanism.

    aioxmpp_login.py --host 127.0.0.1 --port 15322 --jid somenode@example.com \
                     --password-env XMPP_INTEROP_PASSWORD --mechanism SCRAM-SHA-1 [--resource R]

Mechanisms: SCRAM-SHA-1, SCRAM-SHA-256, PLAIN (aiosasl has no DIGEST-MD5).
aioxmpp's stock password provider refuses PLAIN without TLS and picks the strongest
SCRAM on its own, so this driver installs a provider that runs exactly the requested
aiosasl mechanism. TLS is not required and STARTTLS is used only if offered.
"Logged in" means aioxmpp established the stream: SASL, restart and bind (it skips an
<optional/> session). Output/exit contract as in driver_common.py.
"""
import asyncio
import logging

import driver_common as common

args = common.parse_args("aioxmpp", ["SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"], __doc__)
logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL,
                    format="aioxmpp %(levelname)s %(name)s %(message)s")

import aiosasl  # noqa: E402
import aioxmpp  # noqa: E402
import aioxmpp.connector  # noqa: E402
import aioxmpp.security_layer as security_layer  # noqa: E402


class ForcedMechanism(security_layer.SASLProvider):
    """Runs only `args.mechanism`, on any stream (tests on loopback run without TLS)."""

    def __init__(self):
        self.used = None

    async def execute(self, client_jid, features, xmlstream, tls_transport):
        mechanism_class = aiosasl.PLAIN if args.mechanism == "PLAIN" else aiosasl.SCRAM
        mechanism_class, token = self._find_supported(features, [_only(mechanism_class, args.mechanism)])
        if mechanism_class is None:
            raise aioxmpp.errors.SASLUnavailable("server does not offer " + args.mechanism)

        async def credentials():
            return client_jid.localpart, args.password

        intf = aioxmpp.sasl.SASLXMPPInterface(xmlstream)
        result = await self._execute(intf, mechanism_class(credentials), token)
        self.used = args.mechanism
        return result


def _only(base, name):
    """A subclass of the aiosasl mechanism `base` that considers only the mechanism `name`."""

    class Only(base):
        @classmethod
        def any_supported(cls, mechanisms):
            return base.any_supported([m for m in mechanisms if m.upper() == name])

    return Only


async def main():
    jid = aioxmpp.JID.fromstr(args.jid + ("/" + args.resource if args.resource else ""))
    provider = ForcedMechanism()
    layer = aioxmpp.make_security_layer(args.password, no_verify=True)._replace(
        tls_required=False, sasl_providers=[provider])
    client = aioxmpp.Client(jid, layer,
                            override_peer=[(args.host, args.port, aioxmpp.connector.STARTTLSConnector())])
    async with client.connected():
        return str(client.local_jid), provider.used


try:
    bound, used = asyncio.run(asyncio.wait_for(main(), args.timeout))
except asyncio.TimeoutError:
    common.fail(args, "timeout after %.0f s" % args.timeout, common.EXIT_TIMEOUT)
except Exception as e:  # noqa: BLE001 - any library error is a failed login
    common.fail(args, "%s: %s" % (type(e).__name__, e))
if used != args.mechanism:
    common.fail(args, "logged in without the forced provider (mechanism %s)" % used)
common.ok(args, bound, used)
