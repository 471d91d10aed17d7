"""volmig-wanproxy models a WAN link: a round trip takes twice the one-way delay, a transfer
moves at the link's rate (shared by all connections), one connection at most window / RTT, and a
cut resets the connections it carries. Bytes arrive unchanged. (No daemons: a sink server here.)"""
import hashlib
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import LoopbackListener, check, expect, raise_problems  # noqa: E402
from wanproxy import WanProxy  # noqa: E402

MiB = 1 << 20


class Sink(LoopbackListener):
    """For each connection: reads to the end and answers the sha256 of what came."""

    def __init__(self):
        super().__init__()
        self.port = int(self.url.rsplit(":", 1)[1])

    def handle(self, conn):
        threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    @staticmethod
    def _one(conn):
        digest = hashlib.sha256()
        try:
            while True:
                chunk = conn.recv(1 << 16)
                if not chunk:
                    break
                if chunk == b"ping":  # a round trip, answered at once
                    conn.sendall(b"pong")
                    continue
                digest.update(chunk)
            conn.sendall(digest.hexdigest().encode())
        except OSError:
            pass
        finally:
            conn.close()


def send(port, payload):
    """Sends payload through the proxy; returns (seconds, the sink's digest)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return time.monotonic() - start, answer.decode()


def main():
    sink = Sink()
    payload = os.urandom(16 * MiB)
    want = hashlib.sha256(payload).hexdigest()

    with WanProxy(sink.port, delay_ms=25) as link:  # RTT 50 ms, no rate cap
        with socket.create_connection(("127.0.0.1", link.port), timeout=10) as s:
            s.sendall(b"ping")
            s.recv(4)  # the connection set up
            start = time.monotonic()
            s.sendall(b"ping")
            check(s.recv(4) == b"pong", "no pong through the proxy")
            rtt = time.monotonic() - start
        print(f"round trip at 25 ms one way: {rtt * 1000:.1f} ms")
        expect(0.048 <= rtt <= 0.2, f"a round trip took {rtt * 1000:.1f} ms, expected about 50")

    with WanProxy(sink.port, mbit=64) as link:  # 8 MB/s
        seconds, digest = send(link.port, payload)
        print(f"16 MiB at 64 Mbit/s: {seconds:.2f} s (link limit {len(payload) / 8e6:.2f} s)")
        check(digest == want, "the bytes changed on their way through the proxy")
        expect(0.95 * len(payload) / 8e6 <= seconds <= 1.5 * len(payload) / 8e6, f"16 MiB at 8 MB/s took {seconds:.2f} s")
        stats = link.stats()
        expect(stats["up_bytes"] == len(payload), f"the proxy counted {stats['up_bytes']} bytes up, sent {len(payload)}")

    with WanProxy(sink.port, delay_ms=50, window="1M") as link:  # RTT 100 ms: at most 10 MiB/s per connection
        seconds, digest = send(link.port, payload)
        print(f"16 MiB, one connection, 1 MiB window, RTT 100 ms: {seconds:.2f} s")
        check(digest == want, "the bytes changed on their way through the proxy")
        expect(seconds >= 1.4, f"one connection beat its window: 16 MiB in {seconds:.2f} s (at most 10 MiB/s)")
        results = [None] * 4
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, send(link.port, payload))) for i in range(4)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        parallel = time.monotonic() - start
        print(f"4 x 16 MiB on 4 connections: {parallel:.2f} s")
        check(all(r and r[1] == want for r in results), "a parallel transfer arrived changed")
        expect(parallel <= 1.6 * seconds, f"4 connections took {parallel:.2f} s for 4x the data, one took {seconds:.2f} s")

    with WanProxy(sink.port, mbit=400) as link:
        link.cut_after(4 * MiB)
        cut = False
        try:
            _, digest = send(link.port, payload)
            cut = digest != want
        except OSError as e:
            print(f"the cut connection: {e}")
            cut = True
        check(cut, "a connection armed to be cut after 4 MiB delivered all 16 MiB")
        stats = link.stats()
        expect(stats["cuts"] == 1, f"the proxy counted {stats['cuts']} cuts, expected 1")
        _, digest = send(link.port, payload)  # the link carries new connections after a cut
        check(digest == want, "a connection after the cut did not deliver the bytes")
    raise_problems()
    print("PASS")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
