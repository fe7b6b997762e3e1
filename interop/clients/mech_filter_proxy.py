#!/usr/bin/env python3
"""Loopback TCP proxy that hides SASL mechanisms from a client.

It relays one XMPP c2s connection per accepted socket to an upstream server and
deletes every <mechanism>NAME</mechanism> whose NAME is not allowed from what the
server sends, so a client that always picks "the best offered" mechanism
(libstrophe has no knob) ends up using the one we want. It also records the
mechanism named in the client's <auth mechanism='...'> so the caller can check it.

Stdlib only. Used in-process by strophe_login.py (start_in_thread) or standalone:

    mech_filter_proxy.py --allow DIGEST-MD5 --listen 15400 --upstream-port 15222 [--lifetime 600]

Listens and connects on 127.0.0.1 only; the standalone proxy stops by itself after
--lifetime seconds. Assumes a <mechanism> element is not split across two reads,
which holds for the small features element on loopback.
"""
import argparse
import asyncio
import re
import threading

MECHANISM_RE = re.compile(rb"<mechanism>\s*([^<\s]*)\s*</mechanism>")
AUTH_RE = re.compile(rb"<auth\b[^>]*\bmechanism\s*=\s*['\"]([^'\"]+)['\"]")


class MechFilterProxy:
    def __init__(self, allow, upstream_host, upstream_port):
        self.allow = {m.strip().upper().encode() for m in allow}
        self.upstream = (upstream_host, upstream_port)
        self.chosen = []  # mechanisms the client(s) asked for, in order
        self.offered = []  # mechanism lists the server sent, before filtering

    def _filter(self, data):
        found = MECHANISM_RE.findall(data)
        if found:
            self.offered.append([m.decode(errors="replace") for m in found])
        return MECHANISM_RE.sub(lambda m: m.group(0) if m.group(1).upper() in self.allow else b"", data)

    def _watch(self, data):
        for m in AUTH_RE.findall(data):
            self.chosen.append(m.decode(errors="replace"))
        return data

    @staticmethod
    async def _pipe(reader, writer, transform):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(transform(data))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - already closed
                pass

    async def _handle(self, client_r, client_w):
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(self._pipe(client_r, up_w, self._watch), self._pipe(up_r, client_w, self._filter))

    async def serve(self, port=0, ready=None, stop=None, lifetime=None):
        server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        if ready is not None:
            ready(server.sockets[0].getsockname()[1])
        async with server:
            waiter = asyncio.ensure_future(stop.wait() if stop is not None else asyncio.sleep(lifetime or 600))
            await asyncio.wait_for(waiter, lifetime) if lifetime else await waiter

    def start_in_thread(self):
        """Serve on an ephemeral 127.0.0.1 port in a daemon thread; returns (port, stop_fn)."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        box = {}

        async def main():
            box["stop"] = asyncio.Event()
            await self.serve(0, ready=lambda p: (box.__setitem__("port", p), started.set()), stop=box["stop"])
            # Close connections still being relayed so the loop shuts down quietly.
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in others:
                t.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        def run():
            try:
                loop.run_until_complete(main())
            except Exception as e:  # noqa: BLE001 - reported through `started`
                box["error"] = e
                started.set()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        started.wait(10)
        if "port" not in box:
            raise RuntimeError("mech_filter_proxy did not start: %r" % box.get("error"))

        def stop():
            loop.call_soon_threadsafe(box["stop"].set)
            thread.join(5)

        return box["port"], stop


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--allow", required=True, help="comma-separated mechanisms to keep")
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--lifetime", type=float, default=600)
    a = ap.parse_args()
    proxy = MechFilterProxy(a.allow.split(","), "127.0.0.1", a.upstream_port)
    print("mech_filter_proxy 127.0.0.1:%d -> 127.0.0.1:%d allowing %s" % (a.listen, a.upstream_port, a.allow),
          flush=True)
    try:
        asyncio.run(proxy.serve(a.listen, lifetime=a.lifetime))
    except asyncio.TimeoutError:
        pass


if __name__ == "__main__":
    main()
