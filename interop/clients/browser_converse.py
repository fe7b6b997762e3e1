#!/usr/bin/env python3
"""converse.js in headless Chromium (Selenium, Debian's chromium + chromium-driver) logs in
to an XMPP server over WebSocket (RFC 7395), sends one chat message as a user does and
waits until the reply is shown in the chat view.

    browser_converse.py --ws-url ws://127.0.0.1:P/xmpp-websocket --jid user@domain
                        [--password-env VAR]     (default: the password is the first stdin line)
                        --to JID --send TEXT --expect TEXT
                        [--timeout S] [--screenshot PATH] [--http-port P] [-v]

The page (`browser/converse.html`) and converse.js's prebuilt dist/ (from
$XMPP_INTEROP_NODE_MODULES/converse.js/dist) are served by an HTTP server on 127.0.0.1
that this script runs in a thread (on --http-port, default a free port: the page's origin,
and so the WebSocket's Origin header, is http://127.0.0.1:PORT); nothing is fetched from anywhere else, and Selenium
Manager is never run (the driver is /usr/bin/chromedriver, given explicitly). converse.js
gets the WebSocket URL, the JID and the password from the driver (not from a URL) and
logs in with them (`auto_login`); the driver opens the chat with --to through converse's
API, types --send into the chat's text area, presses Enter, and then watches the chat
view (the DOM) for a message from the other side whose text is --expect.

Stdout, one line each (message texts escaped as in session_common.py):

    LOGIN OK jid=<bound full JID> client=converse.js     converse's `connected` event fired
    SENT <text>                                           our message is shown in the chat
    RECEIVED <text>                                       the reply is shown in the chat
    DONE                                                  logged out, browser closed; exit 0

On failure: `SESSION FAILED: converse.js: <reason>` on stderr, a screenshot of the page to
--screenshot (if given), converse's connection events and the browser's console log
(converse logs the XML it sends and receives at loglevel debug) on stderr; exit 1
(2: usage, 3: timeout). -v prints the console log on success too.
"""

import argparse
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from session_common import EXIT_FAILED, EXIT_TIMEOUT, EXIT_USAGE, escape, say  # noqa: E402

CLIENT = "converse.js"
HERE = os.path.dirname(os.path.abspath(__file__))
PAGE_DIR = os.path.join(HERE, "browser")
PAGE = "converse.html"


class Failed(Exception):
    def __init__(self, msg, code=EXIT_FAILED):
        super().__init__(msg)
        self.code = code


def usage_error(msg):
    print("SESSION FAILED: %s: %s" % (CLIENT, msg), file=sys.stderr, flush=True)
    sys.exit(EXIT_USAGE)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ws-url", required=True, help="ws:// URL of the server's WebSocket endpoint")
    ap.add_argument("--jid", required=True, help="bare JID user@domain to log in as")
    ap.add_argument("--password-env", metavar="VAR",
                    help="read the password from this environment variable (default: first line of stdin)")
    ap.add_argument("--to", required=True, metavar="JID", help="bare JID to send the message to")
    ap.add_argument("--send", required=True, metavar="TEXT", help="the message typed (one line)")
    ap.add_argument("--expect", required=True, metavar="TEXT", help="the reply text to wait for")
    ap.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    ap.add_argument("--screenshot", metavar="PATH", help="where to write a PNG of the page on failure")
    ap.add_argument("--http-port", type=int, default=0, metavar="P",
                    help="the page's port on 127.0.0.1 (its origin: http://127.0.0.1:P); default a free one")
    ap.add_argument("--chromium", default="/usr/bin/chromium", help="the browser binary")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver", help="the WebDriver binary")
    ap.add_argument("--converse-dist", metavar="DIR",
                    help="converse.js's dist/ (default: $XMPP_INTEROP_NODE_MODULES/converse.js/dist)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="the browser's console log (converse at loglevel debug) on stderr")
    args = ap.parse_args()
    if "@" not in args.jid or "/" in args.jid:
        usage_error("--jid must be a bare JID user@domain")
    if not args.ws_url.startswith(("ws://", "wss://")):
        usage_error("--ws-url must be a ws:// or wss:// URL")
    if "\n" in args.send or "\r" in args.send:
        usage_error("--send must be one line (Enter sends the message)")
    if args.password_env:
        args.password = os.environ.get(args.password_env)
        if args.password is None:
            usage_error("environment variable %s is not set" % args.password_env)
    else:
        line = sys.stdin.readline()
        if not line:
            usage_error("no password on stdin (or use --password-env VAR)")
        args.password = line.rstrip("\r\n")
    if not args.converse_dist:
        modules = os.environ.get("XMPP_INTEROP_NODE_MODULES") or os.path.join(
            HERE, "..", "..", "target", "interop", "node", "node_modules")
        args.converse_dist = os.path.join(modules, "converse.js", "dist")
    for path, what in [(os.path.join(args.converse_dist, "converse.min.js"), "converse.js dist"),
                       (args.chromium, "--chromium"), (args.chromedriver, "--chromedriver")]:
        if not os.path.isfile(path):
            usage_error("%s: %s not found (run cargo xtask interop install)" % (what, path))
    return args


class Handler(http.server.SimpleHTTPRequestHandler):
    """The page from PAGE_DIR at /, converse's dist/ under /converse/; GET only. Every
    answer carries a Content-Security-Policy that lets the page load nothing but this
    server's files and connect nowhere but here and the XMPP WebSocket: converse.js would
    otherwise fetch its sponsors' logos (fullscreen login page) from its website."""

    dist = None
    verbose = False
    csp = None

    def translate_path(self, path):
        path = urllib.parse.unquote(path.split("?", 1)[0].split("#", 1)[0])
        if path.startswith("/converse/"):
            base, rel = self.dist, path[len("/converse/"):]
        else:
            base, rel = PAGE_DIR, path.lstrip("/")
        full = os.path.realpath(os.path.join(base, rel))
        if not full.startswith(os.path.realpath(base) + os.sep) and full != os.path.realpath(base):
            return os.path.join(base, "no-such-file")
        return full

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", self.csp)
        super().end_headers()

    def log_message(self, fmt, *a):
        if self.verbose:
            sys.stderr.write("http: " + (fmt % a) + "\n")


def content_security_policy(ws_url):
    ws = urllib.parse.urlsplit(ws_url)
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "media-src 'self' data: blob:",
        "worker-src 'self' blob:",
        "connect-src 'self' %s://%s" % (ws.scheme, ws.netloc),
        "frame-src 'none'",
    ])


def serve(args):
    """The static HTTP server on 127.0.0.1 (a free port), in a daemon thread."""
    handler = type("H", (Handler,), {"dist": args.converse_dist, "verbose": args.verbose,
                                     "csp": content_security_policy(args.ws_url)})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", args.http_port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def browser(args, profile):
    # Imported here so that usage errors need no Selenium.
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    # Never let Selenium Manager look for (or download) a driver or a browser: both paths are
    # given, which skips it, and offline mode is a second guard.
    os.environ["SE_OFFLINE"] = "true"
    opts = Options()
    opts.binary_location = args.chromium
    flags = ["--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
             "--window-size=1280,900", "--user-data-dir=" + profile,
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--metrics-recording-only", "--password-store=basic",
             "--lang=en-US",
             # Belt and braces with the page's CSP: no host resolves but localhost and 127.0.0.1.
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
    for f in flags:
        opts.add_argument(f)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    log = open(os.path.join(profile, "chromedriver.log"), "w") if not args.verbose else sys.stderr
    service = Service(executable_path=args.chromedriver, log_output=log)
    return webdriver.Chrome(service=service, options=opts)


class Session:
    def __init__(self, args, driver):
        self.args = args
        self.driver = driver
        self.deadline = time.monotonic() + args.timeout

    def wait(self, what, script, *script_args, poll=0.1):
        """Polls `script` (JavaScript returning a value) until it returns something truthy; a
        value {"fail": reason} fails at once. Explicit waits only: no fixed sleeps."""
        while True:
            value = self.driver.execute_script(script, *script_args)
            if isinstance(value, dict) and value.get("fail"):
                raise Failed("%s: %s" % (what, value["fail"]))
            if value:
                return value
            if time.monotonic() > self.deadline:
                raise Failed("timeout after %g s waiting for %s" % (self.args.timeout, what), EXIT_TIMEOUT)
            time.sleep(poll)

    def run(self, port):
        a = self.args
        self.driver.set_page_load_timeout(max(1, a.timeout))
        self.driver.get("http://127.0.0.1:%d/%s" % (port, PAGE))
        self.wait("the page and converse.js to load",
                  "return typeof converse !== 'undefined' && typeof window.interopStart === 'function'")
        self.driver.execute_script("window.interopStart(arguments[0])", {
            "websocket_url": a.ws_url, "jid": a.jid, "password": a.password, "loglevel": "debug"})
        jid = self.wait("converse to log in", """
            const s = window.interop;
            if (s.connected) return s.connected;
            if (s.error) return {fail: 'converse.initialize: ' + s.error};
            const st = s.status || [];
            if (['CONNFAIL', 'AUTHFAIL', 'ERROR', 'CONNTIMEOUT'].includes(st[0]))
                return {fail: st.join(': ')};
            if (s.events.some((e) => e[0] === 'disconnected'))
                return {fail: 'disconnected before logging in (' + st.join(': ') + ')'};
            return null;""")
        if not jid.startswith(a.jid + "/"):
            raise Failed("bound %s, not a resource of %s" % (jid, a.jid))
        say("LOGIN OK jid=%s client=%s" % (jid, CLIENT))

        self.driver.execute_script("window.interop.openChat(arguments[0])", a.to)
        chat = 'converse-chat[jid="%s"]' % a.to
        self.wait("the chat with %s and its text area" % a.to, """
            const t = document.querySelector(arguments[0] + ' textarea.chat-textarea');
            return t && !t.disabled && t.offsetParent !== null;""", chat)
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
        area = self.driver.find_element(By.CSS_SELECTOR, chat + " textarea.chat-textarea")
        area.click()
        area.send_keys(a.send)
        area.send_keys(Keys.ENTER)
        shown = """
            const [chat, side, text] = arguments;
            const els = document.querySelectorAll(
                chat + ' .chat-msg__content--' + side + ' .chat-msg__text');
            return Array.from(els).some((e) => e.textContent.trim() === text);"""
        self.wait("our message in the chat view", shown, chat, "me", a.send)
        say("SENT %s" % escape(a.send))
        # converse shows a delivery failure (an error bounced by the server) under the message.
        reply = """
            const [chat, side, text] = arguments;
            const err = document.querySelector(chat + ' .chat-msg__error');
            if (err) return {fail: 'converse shows ' + JSON.stringify(err.closest('.chat-msg__body, .chat-msg__content, .chat-msg').innerText)};
            const els = document.querySelectorAll(
                chat + ' .chat-msg__content--' + side + ' .chat-msg__text');
            return Array.from(els).some((e) => e.textContent.trim() === text);"""
        self.wait("the reply %r in the chat view" % a.expect, reply, chat, "them", a.expect)
        say("RECEIVED %s" % escape(a.expect))

        # A clean end of the stream: converse closes it (</close> on the WebSocket).
        self.driver.execute_script("window.interop.logout()")
        self.wait("converse to log out",
                  "return window.interop.events.some((e) => e[0] === 'disconnected')")


def dump_diagnostics(driver, args, to):
    try:
        state = driver.execute_script("return window.interop && {events: window.interop.events,"
                                      " status: window.interop.status, error: window.interop.error}")
        print("converse state: %s" % json.dumps(state), file=to)
    except Exception as e:  # the page may be gone
        print("converse state: unavailable (%s)" % e, file=to)
    try:
        entries = driver.get_log("browser")
    except Exception as e:
        print("browser console: unavailable (%s)" % e, file=to)
        return
    print("browser console (%d entries):" % len(entries), file=to)
    for e in entries:
        print("  [%s] %s" % (e.get("level"), e.get("message")), file=to)
    to.flush()


def main():
    args = parse_args()
    try:
        httpd = serve(args)
    except OSError as e:
        print("SESSION FAILED: %s: cannot serve the page on 127.0.0.1:%d: %s"
              % (CLIENT, args.http_port, e), file=sys.stderr, flush=True)
        sys.exit(EXIT_FAILED)
    port = httpd.server_address[1]
    profile = tempfile.mkdtemp(prefix="xmpp-interop-chromium-")
    driver = None
    code = 0
    try:
        driver = browser(args, profile)
        Session(args, driver).run(port)
        if args.verbose:
            dump_diagnostics(driver, args, sys.stderr)
    except Exception as e:
        code = e.code if isinstance(e, Failed) else EXIT_FAILED
        msg = str(e) if isinstance(e, Failed) else "%s: %s" % (type(e).__name__, e)
        print("SESSION FAILED: %s: %s" % (CLIENT, msg.strip()), file=sys.stderr, flush=True)
        if driver is not None:
            if args.screenshot:
                try:
                    driver.save_screenshot(args.screenshot)
                    print("screenshot: %s" % args.screenshot, file=sys.stderr)
                except Exception as se:
                    print("screenshot failed: %s" % se, file=sys.stderr)
            dump_diagnostics(driver, args, sys.stderr)
        else:
            log = os.path.join(profile, "chromedriver.log")
            if os.path.exists(log):
                sys.stderr.write(open(log, errors="replace").read()[-4000:])
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:
                pass
        httpd.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    if code == 0:
        say("DONE")
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
