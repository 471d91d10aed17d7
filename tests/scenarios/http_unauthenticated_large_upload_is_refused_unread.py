#!/usr/bin/env python3
"""An upload without a token is refused from its head, its body unread: a POST that announces
500 MiB with Expect: 100-continue gets 401 at once, without a 100 Continue and without sending a
byte of it; four parallel unauthenticated chunked uploads of 128 MiB, sent as fast as the daemon
takes them, are cut off after a few MiB (what the sockets buffer), and the daemon's RSS stays
within 32 MiB of what it was. The daemon answers normally afterwards."""
import concurrent.futures
import os
import socket
import sys
import threading
import time

from volmig_lab import MiB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from http_clients import get, json_body, parse_response, rss_kib, token_daemon  # noqa: E402
from scenario_support import check, expect, run_scenario  # noqa: E402

UPLOAD = 128 * MiB


def chunked_upload(port):
    """Sends UPLOAD bytes of chunked body without a token; returns the MiB the daemon took."""
    chunk = b"\x7b" * MiB
    frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(b"POST /v3/volumes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            while sent < UPLOAD:
                s.sendall(frame)
                sent += len(chunk)
        except OSError:
            pass
    return sent / MiB


def scenario(lab):
    d = token_daemon(lab)

    # Content-Length and Expect: 100-continue: the answer comes from the head alone.
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        s.sendall(b"POST /v3/volumes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 524288000\r\nExpect: 100-continue\r\n\r\n")
        t0 = time.monotonic()
        data = s.recv(65536)
        seconds = time.monotonic() - t0
    status, _, body = parse_response(data)
    check(status == 401, f"an unauthenticated 500 MiB upload announced with Expect: 100-continue was answered {data[:120]!r}")
    check("unauthorized" in json_body(body), f"the 401 body is {body!r}")
    expect(seconds < 1, f"the 401 took {seconds:.2f} s")

    before = rss_kib(d)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_kib(d))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            taken = list(pool.map(lambda _: chunked_upload(d.port), range(4)))
    finally:
        done.set()
        sampler.join()
    growth = (peak[0] - before) / 1024
    print(f"RSS {before / 1024:.1f} MiB before, peak {peak[0] / 1024:.1f} MiB; MiB taken per upload {taken}")
    check(growth <= 32, f"four unauthenticated {UPLOAD // MiB} MiB uploads grew the daemon's RSS by {growth:.1f} MiB")
    expect(max(taken) <= 32, f"the daemon took {max(taken):.0f} MiB of an unauthenticated upload before closing it")
    status, _, _, _ = get(d.port, "/v3/volumes")
    check(status == 200, f"after the uploads the daemon answers {status}")


if __name__ == "__main__":
    run_scenario(scenario)
