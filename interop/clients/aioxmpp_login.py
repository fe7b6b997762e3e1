#!/usr/bin/env python3
"""Log aioxmpp (PyPI) in to an XMPP server with one forced SASL mechanism.

    aioxmpp_login.py --host 127.0.0.1 --port 15322 --jid somenode@example.com \
                     --password-env XMPP_INTEROP_PASSWORD --mechanism SCRAM-SHA-1 [--resource R]
                     [--tls --ca-file CA.pem [--channel-binding TYPE]]

Mechanisms: SCRAM-SHA-1, SCRAM-SHA-256, PLAIN (aiosasl has no DIGEST-MD5) and, with --tls,
SCRAM-SHA-1-PLUS / SCRAM-SHA-256-PLUS (aiosasl.SCRAMPLUS) with the channel bindings
tls-server-end-point and tls-unique (aiosasl's providers, over pyOpenSSL) and tls-exporter
(RFC 9266: OpenSSL's exporter through pyOpenSSL, a provider defined here; aiosasl has none).
aioxmpp's stock password provider refuses PLAIN without TLS and picks the strongest
SCRAM on its own, so this driver installs a provider that runs exactly the requested
aiosasl mechanism. Without --tls, TLS is not required and STARTTLS is used only if offered
(unverified); with --tls, STARTTLS is required and the certificate is verified against
--ca-file only (PKIX, name = the JID's domain).
"Logged in" means aioxmpp established the stream: SASL, restart and bind (it skips an
<optional/> session). Output/exit contract as in driver_common.py.
"""
import asyncio
import logging

import driver_common as common

args = common.parse_args("aioxmpp", ["SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN",
                                     "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"], __doc__,
                         ["tls-exporter", "tls-server-end-point", "tls-unique"])
logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL,
                    format="aioxmpp %(levelname)s %(name)s %(message)s")

import aiosasl  # noqa: E402
import aiosasl.channel_binding  # noqa: E402
import aioxmpp  # noqa: E402
import OpenSSL.SSL  # noqa: E402
import aioxmpp.connector  # noqa: E402
import aioxmpp.security_layer as security_layer  # noqa: E402


class ForcedMechanism(security_layer.SASLProvider):
    """Runs only `args.mechanism`, on any stream (tests on loopback run without TLS)."""

    def __init__(self):
        self.used = None
        self.tls = False

    async def execute(self, client_jid, features, xmlstream, tls_transport):
        if args.plus:
            base = aiosasl.SCRAMPLUS
        else:
            base = aiosasl.PLAIN if args.mechanism == "PLAIN" else aiosasl.SCRAM
        mechanism_class, token = self._find_supported(features, [_only(base, args.mechanism)])
        if mechanism_class is None:
            raise aioxmpp.errors.SASLUnavailable("server does not offer " + args.mechanism)

        async def credentials():
            return client_jid.localpart, args.password

        if args.plus:
            if tls_transport is None:
                raise aioxmpp.errors.SASLUnavailable(args.mechanism + " without TLS")
            mechanism = mechanism_class(credentials, channel_binding(tls_transport))
        else:
            mechanism = mechanism_class(credentials)
        intf = aioxmpp.sasl.SASLXMPPInterface(xmlstream)
        result = await self._execute(intf, mechanism, token)
        self.used = args.mechanism
        self.tls = tls_transport is not None
        return result


class TLSExporter(aiosasl.channel_binding.ChannelBindingProvider):
    """`tls-exporter` (RFC 9266): 32 bytes from the TLS exporter, label
    "EXPORTER-Channel-Binding", no context."""

    def __init__(self, connection):
        super().__init__()
        self._connection = connection

    @property
    def cb_name(self):
        return b"tls-exporter"

    def extract_cb_data(self):
        return self._connection.export_keying_material(b"EXPORTER-Channel-Binding", 32)


def channel_binding(tls_transport):
    connection = tls_transport.get_extra_info("ssl_object")
    return {
        "tls-exporter": TLSExporter,
        "tls-server-end-point": aiosasl.channel_binding.TLSServerEndPoint,
        "tls-unique": aiosasl.channel_binding.TLSUnique,
    }[args.channel_binding](connection)


class CAFileVerifier(aioxmpp.security_layer.PKIXCertificateVerifier):
    """PKIX verification against --ca-file only, and the domain among the certificate's
    subjectAltName DNS names (exact match: the test certificate has no wildcard).
    aioxmpp 0.13's own name check calls X509.get_extension, which pyOpenSSL >= 24.3 removed,
    so it is replaced here."""

    def verify_callback(self, ctx, x509, errno, errdepth, returncode):
        if not returncode or errdepth != 0:
            return returncode
        from cryptography import x509 as cx

        try:
            san = x509.to_cryptography().extensions.get_extension_for_class(cx.SubjectAlternativeName)
        except cx.ExtensionNotFound:
            return False
        names = [n.lower() for n in san.value.get_values_for_type(cx.DNSName)]
        return (self.transport.get_extra_info("server_hostname") or "").lower() in names

    def setup_context(self, ctx, transport):
        aioxmpp.security_layer.CertificateVerifier.setup_context(self, ctx, transport)
        ctx.load_verify_locations(args.ca_file)


def ssl_context():
    ctx = aioxmpp.security_layer.default_ssl_context()
    if args.tls12:
        ctx.set_max_proto_version(OpenSSL.SSL.TLS1_2_VERSION)
    return ctx


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
    if args.tls:
        layer = aioxmpp.make_security_layer(args.password)._replace(
            tls_required=True, sasl_providers=[provider], ssl_context_factory=ssl_context,
            certificate_verifier_factory=CAFileVerifier)
    else:
        layer = aioxmpp.make_security_layer(args.password, no_verify=True)._replace(
            tls_required=False, sasl_providers=[provider])
    client = aioxmpp.Client(jid, layer,
                            override_peer=[(args.host, args.port, aioxmpp.connector.STARTTLSConnector())])
    async with client.connected():
        if args.tls and not provider.tls:
            raise RuntimeError("logged in without TLS")
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
