#!/usr/bin/env python3
"""On an HTTPS daemon, clients that never complete a TLS handshake do not take it off the air:
with 200 connections that send nothing, 40 that send half a ClientHello and 40 that speak plain
HTTP to the TLS port (from 20 client addresses), every normal HTTPS request is answered 200,
each within a second. The plain-HTTP ones are answered at once with a plain 400 that says to use
https://; the stalled handshakes are closed within client_socket_timeout (10 s) and a margin,
not before 8 s; the daemon logs the failed handshakes (counted, at most a line per 10 s)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from http_clients import TOKEN, Held  # noqa: E402
from scenario_support import THIN, check, expect, http, run_scenario  # noqa: E402
from tls_certs import Pki  # noqa: E402
from tls_lab import LOCAL  # noqa: E402
from volmig_lab import TlsFiles  # noqa: E402

IDLE, HALF_HELLO, PLAIN = 200, 40, 40
# A TLS record header announcing a 512-byte handshake message, and the first bytes of it.
HALF_CLIENT_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 16


class HeldTls(Held):
    HALF = HALF_CLIENT_HELLO


def scenario(lab):
    pki = Pki(os.path.join(lab.dir, "pki"))
    cert = pki.issue("host-a", LOCAL)
    d = lab.daemon("host-a", backends=dict(THIN), auth_token=TOKEN, tls=TlsFiles(cert.cert, cert.key, pki.ca))
    addresses = [f"127.0.1.{i}" for i in range(1, 21)]
    with HeldTls(d.port, addresses, idle=IDLE, half=HALF_HELLO) as held, Held(d.port, addresses, half=PLAIN) as plain:
        opened = time.monotonic()
        time.sleep(0.3)
        for n in range(10):
            t0 = time.monotonic()
            status, _, body = http("GET", d.url + "/v3/volumes", token=TOKEN, context=d.client_ssl_context)
            seconds = time.monotonic() - t0
            check(status == 200, f"HTTPS request {n + 1} with {IDLE + HALF_HELLO} stalled handshakes held: {status} {body[:200]!r}")
            expect(seconds < 1.0, f"HTTPS request {n + 1} took {seconds:.2f} s")
            time.sleep(0.1)

        answers = [plain.closed_by_daemon(i) for i in range(PLAIN)]
        check(all(a == 400 for a in answers), f"plain HTTP to the TLS port got {sorted(set(map(str, answers)))}, not 400 and a close")
        check(held.open_count() == IDLE + HALF_HELLO, "the daemon closed stalled handshakes before client_socket_timeout")

        outcome = {}
        while len(outcome) < IDLE + HALF_HELLO and time.monotonic() - opened < 15:
            for i in range(IDLE + HALF_HELLO):
                if i not in outcome:
                    closed = held.closed_by_daemon(i)
                    if closed is not False:
                        outcome[i] = (closed, time.monotonic() - opened)
            time.sleep(0.2)
        check(len(outcome) == IDLE + HALF_HELLO, f"{IDLE + HALF_HELLO - len(outcome)} stalled handshakes still open after 15 s")
        first = min(t for _, t in outcome.values())
        expect(first >= 8, f"a stalled handshake was closed after {first:.1f} s, before client_socket_timeout (10 s)")
    status, _, _ = http("GET", d.url + "/v3/volumes", token=TOKEN, context=d.client_ssl_context)
    check(status == 200, f"after the stalled handshakes the daemon answers {status}")
    with open(d.log_path) as f:
        log = f.read()
    check("without a TLS session" in log, f"the daemon did not log the failed handshakes:\n{d.log_tail()}")


if __name__ == "__main__":
    run_scenario(scenario)
