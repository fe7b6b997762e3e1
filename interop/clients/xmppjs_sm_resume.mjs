#!/usr/bin/env node
// xmpp.js 0.14 (@xmpp/client, npm) with stream management (XEP-0198, @xmpp/stream-management)
// and resumption.
//
//   node xmppjs_sm_resume.mjs --host 127.0.0.1 --port P --jid user@domain [--resource R]
//        --password-env VAR --to JID [--before TEXT] [--after TEXT] [--ca-file PEM]
//        [--timeout S] [-v]
//
// The resumption drivers' protocol is slix_sm_resume.py's (interop/README.md): LOGIN OK,
// ENABLED id=, ACKED <before>, WAITING; `resume` on stdin; RESUMED <previd>, ACKED <after>,
// RECEIVED <body> (any time); `quit`; DONE. Failures: `SESSION FAILED: xmpp.js: ...` on stderr,
// exit 1 (2 usage, 3 timeout).
//
// @xmpp/client always enables stream management with resume='true' when offered (after
// binding; inline in Bind2 under SASL2), asks for an acknowledgement 250 ms after a burst of
// stanzas, and emits "ack" per acknowledged stanza. @xmpp/reconnect would reconnect 1 s
// after the loss; the driver stops it and reconnects itself on `resume`, so that the session
// stays detached on the server until then; stream-management then sends <resume previd h>
// and emits "resumed" (no "online": the entity goes back to online silently). xmpp.js only
// takes PLAIN on an insecure stream when told to: the credentials callback takes SCRAM-SHA-1
// when offered, else PLAIN. xmpp.js always takes STARTTLS when offered (it has no switch):
// against such a server give --ca-file, the only CA then trusted (as in xmppjs_login.mjs).
// @xmpp/client is loaded from $XMPP_INTEROP_NODE_MODULES.
import { readFileSync } from "node:fs";
import tls from "node:tls";
import { createInterface } from "node:readline";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const CLIENT = "xmpp.js";

function fail(msg, code = 1) {
  process.stderr.write(`SESSION FAILED: ${CLIENT}: ${msg}\n`);
  process.exit(code);
}

function say(...words) {
  process.stdout.write(words.join(" ") + "\n");
}

function escape(body) {
  return body.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r");
}

function parseArgs(argv) {
  const a = { host: "127.0.0.1", timeout: 30, verbose: false, before: "before the cut",
    after: "after the resumption" };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === "-v" || k === "--verbose") { a.verbose = true; continue; }
    const v = argv[++i];
    if (v === undefined) fail(`missing value after ${k}`, 2);
    const key = { "--host": "host", "--port": "port", "--jid": "jid", "--password-env": "passwordEnv",
      "--resource": "resource", "--timeout": "timeout", "--to": "to", "--before": "before",
      "--after": "after", "--ca-file": "caFile" }[k];
    if (!key) fail(`unknown option ${k}`, 2);
    a[key] = v;
  }
  a.port = Number(a.port);
  a.timeout = Number(a.timeout);
  if (!a.jid || !a.port || !a.to) fail("--jid, --port and --to are required", 2);
  const at = a.jid.indexOf("@");
  if (at < 1 || a.jid.includes("/")) fail("--jid must be a bare JID user@domain; use --resource", 2);
  a.localpart = a.jid.slice(0, at);
  a.domain = a.jid.slice(at + 1);
  return a;
}

const args = parseArgs(process.argv.slice(2));
setTimeout(() => fail(`timeout after ${args.timeout} s`, 3), args.timeout * 1000).unref();

// Lines from stdin: the password first without --password-env, then instructions; the end of
// input is `quit`.
const lines = [];
const waiting = [];
const input = createInterface({ input: process.stdin });
const push = (line) => (waiting.length ? waiting.shift()(line) : lines.push(line));
input.on("line", (line) => push(line.trim()));
input.on("close", () => push("quit"));
const nextLine = () => (lines.length ? Promise.resolve(lines.shift()) : new Promise((r) => waiting.push(r)));

if (args.passwordEnv) {
  args.password = process.env[args.passwordEnv];
  if (args.password === undefined) fail(`environment variable ${args.passwordEnv} is not set`, 2);
} else {
  args.password = await nextLine();
}

const here = dirname(fileURLToPath(import.meta.url));
const modules = process.env.XMPP_INTEROP_NODE_MODULES || join(here, "..", "..", "target", "interop", "node", "node_modules");
let client, xml;
try {
  ({ client, xml } = await import(pathToFileURL(join(modules, "@xmpp", "client", "index.js")).href));
} catch (e) {
  fail(`cannot load @xmpp/client from ${modules} (set XMPP_INTEROP_NODE_MODULES): ${e.message}`, 2);
}

if (args.caFile) {
  let ca;
  try {
    ca = readFileSync(args.caFile, "utf8");
  } catch (e) {
    fail(`cannot read --ca-file: ${e.message}`, 2);
  }
  const connect = tls.connect;
  tls.connect = (options, ...rest) => connect({ ...options, ca }, ...rest);
}

const xmpp = client({
  service: `xmpp://${args.host}:${args.port}`,
  domain: args.domain,
  ...(args.resource ? { resource: args.resource } : {}),
  credentials: async (authenticate, offered) => {
    const mechanism = offered.includes("SCRAM-SHA-1") ? "SCRAM-SHA-1" : "PLAIN";
    await authenticate({ username: args.localpart, password: args.password }, mechanism);
  },
});
xmpp.reconnect.stop();
const sm = xmpp.streamManagement;
let cut = false;
if (args.verbose) {
  xmpp.on("send", (el) => process.stderr.write(`C: ${el}\n`));
  xmpp.on("element", (el) => process.stderr.write(`S: ${el}\n`));
  xmpp.on("status", (s) => process.stderr.write(`status: ${s}\n`));
}
// From WAITING to RESUMED the reset socket's error is expected.
xmpp.on("error", (err) => {
  if (!cut) fail(err.condition ? `${err.condition}${err.text ? ": " + err.text : ""}` : err.message);
  if (args.verbose) process.stderr.write(`error after the cut: ${err.message}\n`);
});
xmpp.on("stanza", (stanza) => {
  const body = stanza.is("message") && stanza.attrs.type !== "error" && stanza.getChildText("body");
  if (body) say("RECEIVED", escape(body));
});
const acked = [];
const ackWaiters = [];
sm.on("ack", (stanza) => {
  const body = stanza.is("message") && stanza.getChildText("body");
  if (body === null || body === false) return;
  say("ACKED", escape(body));
  acked.push(body);
  ackWaiters.splice(0).forEach((w) => w());
});
sm.on("fail", (stanza) => fail(`stanza not acknowledged before the session ended: ${stanza}`));
const ackedOf = (body) => new Promise((resolve) => {
  const check = () => (acked.includes(body) ? resolve() : ackWaiters.push(check));
  check();
});
const sendMessage = (body) =>
  xmpp.send(xml("message", { to: args.to, type: "chat" }, xml("body", {}, body)));

const address = await xmpp.start().catch((e) => fail(`login: ${e.message}`));
say("LOGIN OK", `jid=${address}`, `client=${CLIENT}`);
// <enable/> goes out after binding, and "online" may come before <enabled/>.
for (let i = 0; !sm.enabled && i < 200; i++) await new Promise((r) => setTimeout(r, 25));
if (!sm.enabled || !sm.id) fail(`stream management with resumption is not on (enabled=${sm.enabled})`);
const previd = sm.id;
say("ENABLED", `id=${previd}`);
await sendMessage(args.before);
await ackedOf(args.before);
cut = true;
say("WAITING");
const instruction = await nextLine();
if (instruction !== "resume") fail(`expected \`resume\`, got ${JSON.stringify(instruction)}`, 2);
if (xmpp.status !== "disconnect") {
  await new Promise((resolve) => xmpp.once("disconnect", resolve));
}
const resumed = new Promise((resolve) => sm.once("resumed", resolve));
// A refused <resume/> falls back to binding a new session, which goes "online".
const fresh = () => fail("the server did not resume the session: a new one was bound");
xmpp.once("online", fresh);
try {
  await xmpp.reconnect.reconnect();
} catch (e) {
  fail(`reconnecting: ${e.message}`);
}
await resumed;
xmpp.removeListener("online", fresh);
if (sm.id !== previd) fail(`resumed ${sm.id}, not ${previd}`);
say("RESUMED", previd);
cut = false;
await sendMessage(args.after);
await ackedOf(args.after);
while ((await nextLine()) !== "quit");
sm.removeAllListeners("fail");
await xmpp.stop();
say("DONE");
process.exit(0);
