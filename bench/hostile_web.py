"""
Hostile-web benchmark: the dashboard's web service under hostile clients,
with the worst reactor stall of each battery.

    python bench/hostile_web.py [--flood 1000] [--slow 50] [--logins 300] [--hooks 20]

The web service (pubbot.web.service.WebService, with a token and the GitHub
webhook mounted) runs on the real reactor in this process, with a
pubbot.util.stallwatch.StallWatch ticking every 5 ms; the hostile clients are
plain sockets in another process (forked at the start, so they share no GIL
with the reactor under test):

 - flood: --flood idle connections at once (more than the cap: what is
   accepted, what gets a 503);
 - slow: --slow clients sending their request headers at a byte a second
   (how long until each is dropped);
 - logins: --logins wrong tokens at /login from one address (how many are
   checked, how many get a 429, how many log lines);
 - hooks: --hooks signed 1 MiB webhook deliveries built to be costly to
   parse (a wide JSON array; a form body of %XX escapes), and as many
   repeats of one delivery id.

Baseline in the same run: the stall watch with the service idle.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import ircserver  # noqa: E402
from twisted.internet.defer import Deferred  # noqa: E402
from twisted.internet.task import deferLater  # noqa: E402
from twisted.internet.threads import deferToThread  # noqa: E402
from twisted.logger import globalLogPublisher  # noqa: E402

from pubbot.testing import Harness  # noqa: E402
from pubbot.util.stallwatch import StallWatch  # noqa: E402
from pubbot.vcs.github import GitHubHook  # noqa: E402
from pubbot.web.service import WebService  # noqa: E402

TOKEN = "bench-token-0123456789"
SECRET = b"bench-secret"
MB = 1024 * 1024


def exchange(port: int, data: bytes, timeout: float = 30.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return got
            got += chunk


def flood(port: int, count: int) -> tuple[int, int, int]:
    """Open C{count} connections at once; (accepted and kept, answered 503, failed to connect)."""
    sockets, busy, failed = [], 0, 0
    for _ in range(count):
        try:
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            failed += 1
    time.sleep(0.5)
    kept = 0
    for s in sockets:
        s.setblocking(False)
        try:
            data = s.recv(100)
            busy += data.startswith(b"HTTP/1.1 503")
        except BlockingIOError:
            kept += 1
        except OSError:
            pass
    for s in sockets:
        s.close()
    return kept, busy, failed


def slowloris(port: int, count: int, interval: float, give_up: float) -> list:
    """
    C{count} clients dripping request headers, a byte each every
    C{interval} s; for each, the seconds until the server dropped it (or
    C{give_up}), and whether it was refused at once (a 503).
    """
    start = time.monotonic()
    request = b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10000
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    time.sleep(0.2)
    ended: dict = {}
    sent = 0
    while len(ended) < count and time.monotonic() - start < give_up:
        for i, s in enumerate(clients):
            if i in ended:
                continue
            try:
                s.setblocking(False)
                try:
                    data = s.recv(100)
                    ended[i] = (time.monotonic() - start, data.startswith(b"HTTP/1.1 503"))
                    continue
                except BlockingIOError:
                    pass
                s.setblocking(True)
                s.sendall(request[sent:sent + 1])
            except OSError:
                ended[i] = (time.monotonic() - start, False)
        sent += 1
        time.sleep(interval)
    for s in clients:
        s.close()
    return [ended.get(i, (give_up, False)) for i in range(count)]


def sign(body: bytes) -> bytes:
    return b"sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest().encode()


def hook_request(body: bytes, content_type: bytes, delivery: bytes) -> bytes:
    return (b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: " + content_type
            + b"\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: " + delivery + b"\r\nX-Hub-Signature-256: "
            + sign(body) + b"\r\nContent-Length: %d\r\n\r\n" % (len(body),) + body)


_POOL = None


def away(function, *args) -> Deferred:
    """Run a client function in another process (no GIL shared with the reactor under test)."""
    global _POOL
    if _POOL is None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        _POOL = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    future = _POOL.submit(function, *args)
    return deferToThread(future.result)


async def battery(reactor, name: str, run, results: list) -> None:
    watch = StallWatch(reactor, 0.005)
    watch.start()
    started = time.perf_counter()
    outcome = await run()
    watch.stop()
    results.append((name, watch.worst * 1000, time.perf_counter() - started, outcome))


async def main(reactor, args):
    await away(time.sleep, 0)  # fork the client process before anything runs
    h = Harness()
    handled: list = []
    h.bot.web_resources["hooks/github"] = GitHubHook(SECRET, lambda e, p, d: handled.append(d) or "ok",
                                                     clock=reactor)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port_number = s.getsockname()[1]
    service = WebService(h.bot, reactor, endpoint="tcp:%d:interface=127.0.0.1" % (port_number,), token=TOKEN)
    lines: list = []
    observer = lines.append
    globalLogPublisher.addObserver(observer)
    service.startService()
    await service.listening
    site = service.site
    results: list = []
    try:
        async def idle():
            await deferLater(reactor, 2.0, lambda: None)
            return "-"
        await battery(reactor, "idle", idle, results)

        async def do_flood():
            outcome = await away(flood, port_number, args.flood)
            return "%d kept, %d got 503, %d could not connect (caps %d / %d per address)" % (
                outcome + (site.max_connections, site.max_per_address))
        await battery(reactor, "flood", do_flood, results)

        async def do_slow():
            ends = await away(slowloris, port_number, args.slow, 1.0, 30.0)
            dropped = [t for t, busy in ends if not busy]
            return "%d refused at once (503), %d dropped after %.1f-%.1f s (header deadline %g s)" % (
                len(ends) - len(dropped), len(dropped), min(dropped, default=0), max(dropped, default=0),
                site.header_timeout)
        await battery(reactor, "slow", do_slow, results)

        async def do_logins():
            codes: dict = {}
            before = len(lines)
            for i in range(args.logins):
                body = b"token=guess%d" % (i,)
                head = (b"POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        b"Content-Type: application/x-www-form-urlencoded\r\n")
                answer = await away(exchange, port_number,
                                    head + b"Content-Length: %d\r\n\r\n" % (len(body),) + body)
                code = answer[9:12].decode()
                codes[code] = codes.get(code, 0) + 1
            logged = sum(1 for e in lines[before:] if "wrong dashboard token" in str(e.get("log_format", "")))
            return "answers %s, %d log lines" % (dict(sorted(codes.items())), logged)
        await battery(reactor, "logins", do_logins, results)

        async def do_hooks():
            wide = b"[" + b"1," * (MB // 2 - 2) + b"1]"
            form = b"payload=" + b"%41" * ((MB - 8) // 3)
            codes: dict = {}
            for i in range(args.hooks):
                for body, kind in ((wide, b"application/json"), (form, b"application/x-www-form-urlencoded")):
                    request = hook_request(body, kind, b"%08d-bench" % (i,))
                    answer = await away(exchange, port_number, request)
                    codes[answer[9:12].decode()] = codes.get(answer[9:12].decode(), 0) + 1
            ok = b'{"zen": "' + b"z" * 1000 + b'"}'
            for _ in range(args.hooks):
                request = hook_request(ok, b"application/json", b"12345678-same")
                answer = await away(exchange, port_number, request)
                codes[answer[9:12].decode()] = codes.get(answer[9:12].decode(), 0) + 1
            return "answers %s; %d repeats of one id handled %d time(s)" % (
                dict(sorted(codes.items())), args.hooks, handled.count("12345678-same"))
        await battery(reactor, "hooks", do_hooks, results)
    finally:
        globalLogPublisher.removeObserver(observer)
        await service.stopService()
    print("web service under hostile clients; reactor stall measured every 5 ms in-process")
    print("%-8s %12s %9s  %s" % ("battery", "worst ms", "secs", "outcome"))
    for name, worst, seconds, outcome in results:
        print("%-8s %12.1f %9.1f  %s" % (name, worst, seconds, outcome))


def run(reactor, args) -> Deferred:
    return Deferred.fromCoroutine(main(reactor, args))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flood", type=int, default=1000)
    parser.add_argument("--slow", type=int, default=50)
    parser.add_argument("--logins", type=int, default=300)
    parser.add_argument("--hooks", type=int, default=20)
    sys.exit(ircserver.run_benchmark(run, parser.parse_args()))
