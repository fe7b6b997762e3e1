#!/usr/bin/env node
// xmpp.js 0.14 (@xmpp/client, npm) as a SASL2 + Bind2 + FAST client: logs in with a password,
// gets a FAST token, disconnects, and logs in again with the token, in one process.
//
//   node xmppjs_fast.mjs --host 127.0.0.1 --port P --jid somenode@example.com \
//        --password-env XMPP_INTEROP_PASSWORD [--mechanism SCRAM-SHA-1|PLAIN] [--resource TAG] \
//        [--user-agent-id UUID] [--timeout S] [-v] --tls --ca-file CA.pem
//
// TLS as in xmppjs_login.mjs: STARTTLS required, the certificate verified against CA.pem only
// (@xmpp/starttls passes no CA option, so node:tls connect() is wrapped to add `ca`), and no
// credentials before the stream is secure. xmpp.js uses SASL2 (XEP-0388) whenever the server
// offers <authentication xmlns='urn:xmpp:sasl:2'>, asks for Bind2 (XEP-0386) when it is
// inlined (the `resource` option becomes the Bind2 <tag>), and with FAST (XEP-0484) inlined
// asks for a token with <request-token> whenever it has none. What xmpp.js 0.14 cannot do:
//   - FAST: only HT-SHA-256-NONE (no -ENDP/-EXPR/-UNIQ: no channel binding at all), so
//     <request-token mechanism='HT-SHA-256-NONE'>; no `count` (0-RTT) and no invalidate.
//   - SCRAM: SCRAM-SHA-1 only (no SCRAM-SHA-256, no -PLUS); no SSDP (XEP-0474) check.
//   - Its user agent id is random per client() unless the `userAgent` option gives one, and a
//     FAST token is bound to that id: this driver passes one fixed <user-agent id> to both
//     clients (--user-agent-id, default a fixed UUID v4).
//   - Tokens live in memory of one client() object (fast.saveToken/fetchToken): the driver
//     overrides both on each client to keep the token between the two, as an application
//     storing it would.
//   - A refused token is dropped silently and the password used instead: the driver watches
//     what goes on the wire and fails if the second login is not an HT-* one.
//
// Output on stdout, one line per login (the first as driver_common.py's contract, plus fields):
//   LOGIN OK jid=<bound JID> mechanism=<M> client=xmpp.js sasl2=yes|no bind2=yes|no fast=requested|used|no
//   TOKEN mechanism=<HT-M> expiry=<E>                 (after login 1: the token it stored)
// and `LOGIN FAILED: xmpp.js: ...` on stderr, exit 1 (2 usage, 3 timeout).
import { readFileSync } from "node:fs";
import tls from "node:tls";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const CLIENT = "xmpp.js";
const MECHANISMS = ["PLAIN", "SCRAM-SHA-1"];
const SASL2 = "urn:xmpp:sasl:2";
const SASL1 = "urn:ietf:params:xml:ns:xmpp-sasl";
const BIND2 = "urn:xmpp:bind:0";
const FAST = "urn:xmpp:fast:0";
// A fixed UUID v4, so that the token of login 1 matches the user agent of login 2.
const DEFAULT_USER_AGENT_ID = "6f4b2a1e-8c3d-4e5f-9a0b-1c2d3e4f5a6b";

function fail(msg, code = 1) {
  process.stderr.write(`LOGIN FAILED: ${CLIENT}: ${msg}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const a = {
    host: "127.0.0.1", timeout: 30, verbose: false, mechanism: "SCRAM-SHA-1",
    userAgentId: DEFAULT_USER_AGENT_ID,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === "-v" || k === "--verbose") { a.verbose = true; continue; }
    if (k === "--tls") { a.tls = true; continue; }
    const v = argv[++i];
    if (v === undefined) fail(`missing value after ${k}`, 2);
    const key = { "--host": "host", "--port": "port", "--jid": "jid", "--password-env": "passwordEnv",
      "--mechanism": "mechanism", "--resource": "resource", "--timeout": "timeout",
      "--ca-file": "caFile", "--user-agent-id": "userAgentId" }[k];
    if (!key) fail(`unknown option ${k}`, 2);
    a[key] = v;
  }
  a.port = Number(a.port);
  a.timeout = Number(a.timeout);
  if (!a.jid || !a.port) fail("--jid and --port are required", 2);
  a.mechanism = a.mechanism.toUpperCase();
  if (!MECHANISMS.includes(a.mechanism)) fail(`mechanism ${a.mechanism} not supported (supported: ${MECHANISMS.join(", ")})`, 2);
  // SASL2 and FAST belong on TLS (XEP-0388 §3); a server offers them on TLS streams.
  if (!a.tls || !a.caFile) fail("--tls and --ca-file are required", 2);
  const at = a.jid.indexOf("@");
  if (at < 1 || a.jid.includes("/")) fail("--jid must be a bare JID user@domain; use --resource for the Bind2 tag", 2);
  a.localpart = a.jid.slice(0, at);
  a.domain = a.jid.slice(at + 1);
  if (a.passwordEnv) {
    a.password = process.env[a.passwordEnv];
    if (a.password === undefined) fail(`environment variable ${a.passwordEnv} is not set`, 2);
  } else {
    const line = readFileSync(0, "utf8").split(/\r?\n/)[0];
    if (!line) fail("no password on stdin (or use --password-env VAR)", 2);
    a.password = line;
  }
  return a;
}

const args = parseArgs(process.argv.slice(2));
const timer = setTimeout(() => fail(`timeout after ${args.timeout} s`, 3), args.timeout * 1000);

// ES module resolution ignores NODE_PATH, so import the package entry point by path.
const here = dirname(fileURLToPath(import.meta.url));
const modules = process.env.XMPP_INTEROP_NODE_MODULES || join(here, "..", "..", "target", "interop", "node", "node_modules");
let client, xml;
try {
  ({ client, xml } = await import(pathToFileURL(join(modules, "@xmpp", "client", "index.js")).href));
} catch (e) {
  fail(`cannot load @xmpp/client from ${modules} (set XMPP_INTEROP_NODE_MODULES): ${e.message}`, 2);
}

let ca;
try {
  ca = readFileSync(args.caFile, "utf8");
} catch (e) {
  fail(`cannot read --ca-file: ${e.message}`, 2);
}
// `ca` replaces Node's default roots: only the given CA is trusted.
const connect = tls.connect;
tls.connect = (options, ...rest) => connect({ ...options, ca }, ...rest);

// What the application keeps between runs: the FAST token (xmpp.js calls saveToken when a
// <success> carries one, fetchToken before authenticating, deleteToken when it is refused).
let stored = null;

function describe(err) {
  return err.condition ? `${err.condition}${err.text ? ": " + err.text : ""}` : err.message;
}

// With a `credentials` callback xmpp.js sends the user agent the callback passes to
// authenticate(); client({ userAgent }) alone only reaches its default credentials path.
function userAgent() {
  return xml("user-agent", { id: args.userAgentId }, xml("software", {}, "xmppjs_fast.mjs"));
}

// One login; resolves with what went on the wire once the client is online, then stops it.
function login(round) {
  return new Promise((resolve, reject) => {
    const wire = { mechanism: null, sasl2: false, bind2: false, requested: null, fastUsed: false,
      bound: false, token: null };
    const xmpp = client({
      service: `xmpp://${args.host}:${args.port}`,
      domain: args.domain,
      ...(args.resource ? { resource: args.resource } : {}),
      userAgent: userAgent(),
      credentials: async (authenticate, offered, fast) => {
        if (!xmpp.isSecure()) {
          throw new Error("the server did not offer STARTTLS; refusing to authenticate without TLS");
        }
        if (!offered.includes(args.mechanism)) {
          throw new Error(`server/client have no ${args.mechanism} in common (usable: ${offered.join(",")})`);
        }
        // `fast` is null unless the server inlines FAST in SASL2; with a token xmpp.js tries it
        // first and falls back to the password mechanism if it is refused.
        const token = (await fast?.fetch()) ?? undefined;
        await authenticate(
          { username: args.localpart, password: args.password, token },
          args.mechanism,
          userAgent(),
        );
      },
    });
    xmpp.reconnect.stop();
    xmpp.fast.saveToken = async (t) => { stored = t; };
    xmpp.fast.fetchToken = async () => stored;
    xmpp.fast.deleteToken = async () => { stored = null; };
    xmpp.on("send", (el) => {
      if (args.verbose) process.stderr.write(`C${round}: ${el}\n`);
      if (el.is("authenticate", SASL2)) {
        wire.sasl2 = true;
        wire.mechanism = el.attrs.mechanism;
        wire.bind2 = !!el.getChild("bind", BIND2);
        wire.requested = el.getChild("request-token", FAST)?.attrs.mechanism ?? null;
        wire.fastUsed = !!el.getChild("fast", FAST);
      } else if (el.is("auth", SASL1)) {
        wire.sasl2 = false;
        wire.mechanism = el.attrs.mechanism;
      }
    });
    xmpp.on("element", (el) => {
      if (args.verbose) process.stderr.write(`S${round}: ${el}\n`);
      if (el.is("success", SASL2)) {
        wire.bound = !!el.getChild("bound", BIND2);
        const t = el.getChild("token", FAST);
        wire.token = t ? { expiry: t.attrs.expiry } : null;
      }
    });
    xmpp.on("error", (err) => reject(new Error(describe(err))));
    xmpp.on("online", async (address) => {
      if (!xmpp.isSecure()) reject(new Error("logged in without TLS"));
      try { await xmpp.stop(); } catch { /* closing is best effort */ }
      resolve({ ...wire, jid: address.toString() });
    });
    xmpp.start().catch((e) => reject(new Error(describe(e))));
  });
}

function report(w) {
  const fast = w.fastUsed ? "used" : w.requested ? "requested" : "no";
  process.stdout.write(`LOGIN OK jid=${w.jid} mechanism=${w.mechanism} client=${CLIENT} `
    + `sasl2=${w.sasl2 ? "yes" : "no"} bind2=${w.bind2 && w.bound ? "yes" : "no"} fast=${fast}\n`);
}

try {
  const first = await login(1);
  report(first);
  if (!first.sasl2) fail("login 1 did not use SASL2 (the server offered none?)");
  if (!first.requested) fail("login 1 requested no FAST token (the server inlined no FAST?)");
  if (!stored) fail(`login 1 asked for a ${first.requested} token but the <success> carried none`);
  process.stdout.write(`TOKEN mechanism=${stored.mechanism} expiry=${stored.expiry}\n`);

  const second = await login(2);
  report(second);
  if (!second.fastUsed || !second.mechanism?.startsWith("HT-")) {
    fail(`login 2 used ${second.mechanism}, not the FAST token (refused, or not offered)`);
  }
} catch (e) {
  fail(e.message);
}
clearTimeout(timer);
process.exit(0);
