#!/usr/bin/env python3
"""Log libstrophe in to an XMPP server with one forced SASL mechanism.

    strophe_login.py --host 127.0.0.1 --port 15222 --jid somenode@example.com \
                     --password-env XMPP_INTEROP_PASSWORD --mechanism DIGEST-MD5 [--resource R]

libstrophe always picks the strongest mechanism offered, so this wrapper starts
mech_filter_proxy in-process on an ephemeral loopback port, lets the server's
features through with only --mechanism left in them, and runs the compiled
strophe_login binary (path in $XMPP_INTEROP_STROPHE, or --strophe-bin) against the
proxy. It checks that the <auth/> libstrophe sent names the requested mechanism.
Mechanisms: SCRAM-SHA-1, SCRAM-SHA-256, SCRAM-SHA-512, DIGEST-MD5, PLAIN (libstrophe 0.12
has no SCRAM-*-PLUS).

With --tls --ca-file CA.pem the binary requires STARTTLS and verifies the certificate.
A proxy cannot filter mechanisms inside TLS, so there is none: the server must offer the
requested mechanism as the strongest one libstrophe knows (our server in the tests offers
exactly one), and the wrapper reads the <auth/> libstrophe sent from its debug log.
Output/exit contract as in driver_common.py.
"""
import os
import re
import subprocess
import sys

import driver_common as common
from mech_filter_proxy import MechFilterProxy

# Pull our private option out before the common parser sees the command line.
strophe_bin = os.environ.get("XMPP_INTEROP_STROPHE")
if "--strophe-bin" in sys.argv:
    i = sys.argv.index("--strophe-bin")
    strophe_bin = sys.argv[i + 1] if i + 1 < len(sys.argv) else None
    del sys.argv[i:i + 2]

args = common.parse_args("libstrophe", ["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "DIGEST-MD5", "PLAIN"],
                         __doc__)
if not strophe_bin or not os.access(strophe_bin, os.X_OK):
    common.usage_error("libstrophe", "compiled strophe_login not found: set XMPP_INTEROP_STROPHE or --strophe-bin")

if args.tls:
    # STARTTLS: no proxy; libstrophe's debug log shows the <auth/> it sent.
    proxy, port, stop = None, args.port, (lambda: None)
    host = args.host
else:
    proxy = MechFilterProxy([args.mechanism], args.host, args.port)
    port, stop = proxy.start_in_thread()
    host = "127.0.0.1"
cmd = [strophe_bin, "--host", host, "--port", str(port), "--jid", args.jid,
       "--password-env", "STROPHE_LOGIN_PASSWORD", "--timeout", str(args.timeout)]
if args.resource:
    cmd += ["--resource", args.resource]
if args.tls:
    cmd += ["--ca-file", args.ca_file]
if args.verbose or args.tls:
    cmd.append("-v")
env = dict(os.environ, STROPHE_LOGIN_PASSWORD=args.password)
try:
    proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=args.timeout + 5)
except subprocess.TimeoutExpired:
    stop()
    common.fail(args, "timeout after %.0f s" % args.timeout, common.EXIT_TIMEOUT)
stop()
if args.verbose or not args.tls:
    sys.stderr.write(proc.stderr)
else:
    # The debug log was only for us; pass on errors and the failure line.
    sys.stderr.writelines(line + "\n" for line in proc.stderr.splitlines()
                          if " ERROR " in line or line.startswith("LOGIN FAILED"))
if proxy is None:
    chosen = re.findall(r"SENT: <auth\b[^>]*\bmechanism=[\"']([^\"']+)", proc.stderr)
    offered = re.findall(r"<mechanism>([^<]+)</mechanism>", proc.stderr)
else:
    chosen, offered = proxy.chosen, (proxy.offered[0] if proxy.offered else [])
if proc.returncode != 0:
    if offered and args.mechanism not in offered:
        common.fail(args, "server does not offer %s (offered: %s)" % (args.mechanism, ",".join(offered)))
    if chosen and chosen[0] != args.mechanism:
        common.fail(args, "libstrophe chose %s, not %s (offered: %s)" % (chosen[0], args.mechanism, ",".join(offered)))
    sys.exit(proc.returncode)
if chosen != [args.mechanism]:
    common.fail(args, "expected one <auth mechanism='%s'/>, saw %s (server offered %s)"
                % (args.mechanism, chosen, offered))
jid = ""
for line in proc.stdout.splitlines():
    if line.startswith("LOGIN OK jid="):
        jid = line.split()[2][len("jid="):]
if not jid:
    common.fail(args, "strophe_login succeeded without reporting a bound JID: %r" % proc.stdout)
common.ok(args, jid)
