#!/usr/bin/env node
// Log @xmpp/client (xmpp.js 0.14, npm) in to an XMPP server with one forced SASL mechanism.
//
//   node xmppjs_login.mjs --host 127.0.0.1 --port 15322 --jid somenode@example.com \
//        --password-env XMPP_INTEROP_PASSWORD --mechanism PLAIN [--resource R] [--timeout S] [-v]
//        [--tls --ca-file CA.pem]
//   node --experimental-websocket xmppjs_login.mjs --ws-url ws://127.0.0.1:P/xmpp-websocket \
//        --jid somenode@example.com --password-env XMPP_INTEROP_PASSWORD --mechanism PLAIN
//
// With --ws-url (instead of --host/--port): XMPP over WebSocket (RFC 7395, @xmpp/websocket,
// subprotocol xmpp), through the global WebSocket, which Node 20 has only with
// --experimental-websocket (Node >= 22 without it). xmpp.js counts ws:// as insecure, so
// the credentials callback, not xmpp.js, decides whether PLAIN may go (it may: the test
// servers offer it there). No --tls with it (a wss:// URL would use Node's default roots).
//
// Without --tls: plain TCP; xmpp.js would use STARTTLS if offered, and the servers of the
// suite offer none there. With --tls: STARTTLS required (credentials are only released on a
// secure stream) and the certificate verified against CA.pem only: @xmpp/starttls passes
// no CA option, so the driver wraps node:tls connect() to add it. xmpp.js 0.14 has no
// SCRAM-*-PLUS.
//
// Mechanisms: PLAIN, SCRAM-SHA-1. @xmpp/client is loaded from $XMPP_INTEROP_NODE_MODULES
// (installed by `cargo xtask interop install`). By default xmpp.js refuses PLAIN on an
// unencrypted stream; the credentials callback below chooses the mechanism instead.
// xmpp.js never sends the legacy session IQ: "logged in" is its "online" event, after
// SASL, restart and bind. Output/exit contract as in driver_common.py.
import { readFileSync } from "node:fs";
import tls from "node:tls";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const CLIENT = "xmpp.js";
const MECHANISMS = ["PLAIN", "SCRAM-SHA-1"];

function fail(msg, code = 1) {
  process.stderr.write(`LOGIN FAILED: ${CLIENT}: ${msg}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const a = { host: "127.0.0.1", timeout: 20, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === "-v" || k === "--verbose") { a.verbose = true; continue; }
    if (k === "--tls") { a.tls = true; continue; }
    const v = argv[++i];
    if (v === undefined) fail(`missing value after ${k}`, 2);
    const key = { "--host": "host", "--port": "port", "--ws-url": "wsUrl", "--jid": "jid", "--password-env": "passwordEnv",
      "--mechanism": "mechanism", "--resource": "resource", "--timeout": "timeout",
      "--ca-file": "caFile", "--channel-binding": "channelBinding" }[k];
    if (!key) fail(`unknown option ${k}`, 2);
    a[key] = v;
  }
  a.port = Number(a.port);
  a.timeout = Number(a.timeout);
  if (!a.jid || !(a.port || a.wsUrl) || !a.mechanism) fail("--jid, --port (or --ws-url) and --mechanism are required", 2);
  if (a.wsUrl && !/^wss?:\/\//.test(a.wsUrl)) fail("--ws-url must be a ws:// or wss:// URL", 2);
  if (a.wsUrl && a.tls) fail("--tls is for TCP (STARTTLS); use a wss:// --ws-url instead", 2);
  if (a.wsUrl && typeof globalThis.WebSocket !== "function") {
    fail("no global WebSocket in this Node.js: run node --experimental-websocket (Node 20)", 2);
  }
  a.mechanism = a.mechanism.toUpperCase();
  if (!MECHANISMS.includes(a.mechanism)) fail(`mechanism ${a.mechanism} not supported (supported: ${MECHANISMS.join(", ")})`, 2);
  if (a.tls && !a.caFile) fail("--tls needs --ca-file", 2);
  if (a.channelBinding) fail("xmpp.js 0.14 has no channel binding (no SCRAM-*-PLUS)", 2);
  const at = a.jid.indexOf("@");
  if (at < 1 || a.jid.includes("/")) fail("--jid must be a bare JID user@domain; use --resource for the resource", 2);
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
let client;
try {
  ({ client } = await import(pathToFileURL(join(modules, "@xmpp", "client", "index.js")).href));
} catch (e) {
  fail(`cannot load @xmpp/client from ${modules} (set XMPP_INTEROP_NODE_MODULES): ${e.message}`, 2);
}

if (args.tls) {
  let ca;
  try {
    ca = readFileSync(args.caFile, "utf8");
  } catch (e) {
    fail(`cannot read --ca-file: ${e.message}`, 2);
  }
  // `ca` replaces Node's default roots: only the given CA is trusted.
  const connect = tls.connect;
  tls.connect = (options, ...rest) => connect({ ...options, ca }, ...rest);
}

let used = null;
const xmpp = client({
  service: args.wsUrl || `xmpp://${args.host}:${args.port}`,
  domain: args.domain,
  ...(args.resource ? { resource: args.resource } : {}),
  credentials: async (authenticate, offered) => {
    if (args.tls && !xmpp.isSecure()) {
      throw new Error("the server did not offer STARTTLS; refusing to authenticate without TLS");
    }
    if (!offered.includes(args.mechanism)) {
      throw new Error(`server/client have no ${args.mechanism} in common (usable: ${offered.join(",")})`);
    }
    used = args.mechanism;
    await authenticate({ username: args.localpart, password: args.password }, args.mechanism);
  },
});
xmpp.reconnect.stop();
if (args.verbose) {
  xmpp.on("send", (el) => process.stderr.write(`C: ${el}\n`));
  xmpp.on("element", (el) => process.stderr.write(`S: ${el}\n`));
}
xmpp.on("error", (err) => fail(err.condition ? `${err.condition}${err.text ? ": " + err.text : ""}` : err.message));
xmpp.on("online", async (address) => {
  clearTimeout(timer);
  if (args.tls && !xmpp.isSecure()) fail("logged in without TLS");
  process.stdout.write(`LOGIN OK jid=${address.toString()} mechanism=${used} client=${CLIENT}\n`);
  try { await xmpp.stop(); } catch { /* closing is best effort */ }
  process.exit(0);
});
try {
  await xmpp.start();
} catch (e) {
  fail(e.condition ? `${e.condition}${e.text ? ": " + e.text : ""}` : e.message);
}
