"""Shared command line and result reporting for the Python login drivers.

Every driver in this directory has the same interface so that the interop tests
can treat them alike:

    <driver> --host 127.0.0.1 --port P --jid user@domain
             (--password-env VAR | password on stdin) --mechanism MECH
             [--resource R] [--timeout SECONDS] [-v]
             [--tls --ca-file CA.pem [--channel-binding TYPE]]

Without --tls a driver uses plain TCP (no STARTTLS) and allows every mechanism on it.
With --tls it requires STARTTLS, verifies the server's certificate against CA.pem for the
JID's domain, and fails unless the login happened over TLS. SCRAM-*-PLUS mechanisms need
--tls; --channel-binding picks the binding type among those the driver supports (the first
one by default). `tls-unique` does not exist on TLS 1.3 (RFC 9266), so with it the driver
caps TLS at 1.2.

On a completed login (SASL + resource binding, + session if the client does it)
a driver prints exactly one line to stdout and exits 0:

    LOGIN OK jid=<bound full JID> mechanism=<MECH> client=<name>

Otherwise it prints `LOGIN FAILED: <reason>` to stderr and exits 1 (2 for a
usage error, 3 for the timeout).
"""

import argparse
import os
import sys

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3


def parse_args(client, mechanisms, description, channel_bindings=()):
    """Parse the uniform driver command line; `mechanisms` lists what this driver can force,
    `channel_bindings` the binding types it can use for SCRAM-*-PLUS (first = default)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--jid", required=True, help="bare JID user@domain (the domain is the stream 'to')")
    ap.add_argument("--password-env", metavar="VAR",
                    help="read the password from this environment variable (default: first line of stdin)")
    ap.add_argument("--mechanism", required=True, type=str.upper,
                    help="SASL mechanism to force: " + ", ".join(mechanisms))
    ap.add_argument("--resource", help="resource to request (default: let the server generate one)")
    ap.add_argument("--timeout", type=float, default=20.0, help="give up after this many seconds")
    ap.add_argument("-v", "--verbose", action="store_true", help="log the client library's debug output to stderr")
    ap.add_argument("--tls", action="store_true",
                    help="require STARTTLS (default: plain TCP, STARTTLS never used)")
    ap.add_argument("--ca-file", metavar="PEM", help="with --tls: trust only the CA certificates in this file")
    ap.add_argument("--channel-binding", metavar="TYPE",
                    help="for SCRAM-*-PLUS: " + (", ".join(channel_bindings) or "(none supported)"))
    args = ap.parse_args()
    if args.mechanism not in mechanisms:
        usage_error(client, "mechanism %s not supported by this driver (supported: %s)"
                    % (args.mechanism, ", ".join(mechanisms)))
    if args.tls and not args.ca_file:
        usage_error(client, "--tls needs --ca-file")
    if args.ca_file and not os.path.isfile(args.ca_file):
        usage_error(client, "--ca-file %s does not exist" % args.ca_file)
    args.plus = args.mechanism.endswith("-PLUS")
    if args.plus:
        if not args.tls:
            usage_error(client, "%s needs --tls" % args.mechanism)
        if not channel_bindings:
            usage_error(client, "this driver has no channel binding for %s" % args.mechanism)
        args.channel_binding = args.channel_binding or channel_bindings[0]
        if args.channel_binding not in channel_bindings:
            usage_error(client, "channel binding %s not supported by this driver (supported: %s)"
                        % (args.channel_binding, ", ".join(channel_bindings)))
    elif args.channel_binding:
        usage_error(client, "--channel-binding only goes with a SCRAM-*-PLUS mechanism")
    # tls-unique is undefined on TLS 1.3 (RFC 9266 §3): cap the version where it is used.
    args.tls12 = args.plus and args.channel_binding == "tls-unique"
    if "@" not in args.jid or "/" in args.jid:
        usage_error(client, "--jid must be a bare JID user@domain; use --resource for the resource")
    args.localpart, _, args.domain = args.jid.partition("@")
    args.password = read_password(client, args.password_env)
    args.client = client
    return args


def read_password(client, var):
    if var:
        value = os.environ.get(var)
        if value is None:
            usage_error(client, "environment variable %s is not set" % var)
        return value
    line = sys.stdin.readline()
    if not line:
        usage_error(client, "no password on stdin (or use --password-env VAR)")
    return line.rstrip("\r\n")


def usage_error(client, msg):
    print("LOGIN FAILED: %s: %s" % (client, msg), file=sys.stderr, flush=True)
    sys.exit(EXIT_USAGE)


def ok(args, jid, mechanism=None):
    print("LOGIN OK jid=%s mechanism=%s client=%s" % (jid, mechanism or args.mechanism, args.client), flush=True)
    sys.exit(0)


def fail(args, msg, code=EXIT_FAILED):
    print("LOGIN FAILED: %s: %s" % (args.client, msg), file=sys.stderr, flush=True)
    sys.exit(code)
