"""Shared command line and line protocol of the session drivers: `slix_receive.py` and the
stream management (XEP-0198) resumption drivers `*_sm_resume.*`.

    <driver> --host 127.0.0.1 --port P --jid user@domain [--resource R]
             [--password-env VAR]      (default: the password is the first line of stdin)
             [--to JID] [--before TEXT] [--after TEXT]   (resumption drivers)
             [--timeout S] [-v]

Plain TCP only (no STARTTLS), every SASL mechanism allowed on it; the client library picks.
Each event is one line on stdout (flushed at once); message bodies are escaped so that a
body is one line: backslash as `\\\\`, line feed as `\\n`, carriage return as `\\r`.
Failures: `SESSION FAILED: <client>: <reason>` on stderr, exit 1 (2: usage, 3: timeout).
Instructions come as lines on stdin (after the password line, without --password-env);
end of input is the same as `quit`.
"""

import argparse
import asyncio
import os
import sys
import threading

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3


def parse_args(client, description, resume=False):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--jid", required=True, help="bare JID user@domain (the domain is the stream 'to')")
    ap.add_argument("--resource", help="resource to request (default: the server's choice)")
    ap.add_argument("--password-env", metavar="VAR",
                    help="read the password from this environment variable (default: first line of stdin)")
    ap.add_argument("--timeout", type=float, default=30.0, help="give up after this many seconds")
    ap.add_argument("-v", "--verbose", action="store_true", help="the library's debug log on stderr")
    if resume:
        ap.add_argument("--to", required=True, metavar="JID", help="where the two messages go")
        ap.add_argument("--before", default="before the cut", help="body of the message sent before the cut")
        ap.add_argument("--after", default="after the resumption",
                        help="body of the message sent after the resumption")
    args = ap.parse_args()
    if "@" not in args.jid or "/" in args.jid:
        usage_error(client, "--jid must be a bare JID user@domain; use --resource for the resource")
    args.localpart, _, args.domain = args.jid.partition("@")
    args.full = args.jid + ("/" + args.resource if args.resource else "")
    if args.password_env:
        args.password = os.environ.get(args.password_env)
        if args.password is None:
            usage_error(client, "environment variable %s is not set" % args.password_env)
    else:
        line = sys.stdin.readline()
        if not line:
            usage_error(client, "no password on stdin (or use --password-env VAR)")
        args.password = line.rstrip("\r\n")
    args.client = client
    return args


def escape(body):
    return body.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def say(*words):
    print(" ".join(str(w) for w in words), flush=True)


def usage_error(client, msg):
    print("SESSION FAILED: %s: %s" % (client, msg), file=sys.stderr, flush=True)
    sys.exit(EXIT_USAGE)


def fail(args, msg, code=EXIT_FAILED):
    print("SESSION FAILED: %s: %s" % (args.client, msg), file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(code)


class Instructions:
    """Lines from stdin, read on a thread, as an asyncio queue; end of input is `quit`."""

    def __init__(self, loop):
        self.queue = asyncio.Queue()
        self.loop = loop
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in sys.stdin:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, line.strip())
        self.loop.call_soon_threadsafe(self.queue.put_nowait, "quit")

    async def next(self):
        return await self.queue.get()
