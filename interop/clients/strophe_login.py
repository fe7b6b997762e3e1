#!/usr/bin/env python3
"""Log libstrophe in to an XMPP server with one forced SASL mechanism.

    strophe_login.py --host 127.0.0.1 --port 15222 --jid somenode@example.com \
                     --password-env XMPP_INTEROP_PASSWORD --mechanism DIGEST-MD5 [--resource R]

libstrophe always picks the strongest mechanism offered, so this wrapper starts
mech_filter_proxy in-process on an ephemeral loopback port, lets the server's
features through with only --mechanism left in them, and runs the compiled
strophe_login binary (path in $XMPP_INTEROP_STROPHE, or --strophe-bin) against the
proxy. It checks that the <auth/> libstrophe sent names the requested mechanism.
Mechanisms: SCRAM-SHA-1, SCRAM-SHA-256, SCRAM-SHA-512, DIGEST-MD5, PLAIN.
Output/exit contract as in driver_common.py.
"""
import os
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

proxy = MechFilterProxy([args.mechanism], args.host, args.port)
port, stop = proxy.start_in_thread()
cmd = [strophe_bin, "--host", "127.0.0.1", "--port", str(port), "--jid", args.jid,
       "--password-env", "STROPHE_LOGIN_PASSWORD", "--timeout", str(args.timeout)]
if args.resource:
    cmd += ["--resource", args.resource]
if args.verbose:
    cmd.append("-v")
env = dict(os.environ, STROPHE_LOGIN_PASSWORD=args.password)
try:
    proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=args.timeout + 5)
except subprocess.TimeoutExpired:
    stop()
    common.fail(args, "timeout after %.0f s" % args.timeout, common.EXIT_TIMEOUT)
stop()
sys.stderr.write(proc.stderr)
if proc.returncode != 0:
    if proxy.offered and args.mechanism not in proxy.offered[0]:
        common.fail(args, "server does not offer %s (offered: %s)" % (args.mechanism, ",".join(proxy.offered[0])))
    sys.exit(proc.returncode)
if proxy.chosen != [args.mechanism]:
    common.fail(args, "expected one <auth mechanism='%s'/>, saw %s (server offered %s)"
                % (args.mechanism, proxy.chosen, proxy.offered))
jid = ""
for line in proc.stdout.splitlines():
    if line.startswith("LOGIN OK jid="):
        jid = line.split()[2][len("jid="):]
if not jid:
    common.fail(args, "strophe_login succeeded without reporting a bound JID: %r" % proc.stdout)
common.ok(args, jid)
