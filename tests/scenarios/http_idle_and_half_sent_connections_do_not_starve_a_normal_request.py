#!/usr/bin/env python3
"""Idle connections and half-sent requests do not take the daemon off the air: with 300
connections that send nothing and 40 that sent half a request head held open (from 20 client
addresses, under max_connections_per_client), every normal authenticated request from
127.0.0.1 is answered 200, each within a second; /metrics counts the held connections as open.
Within client_socket_timeout (10 s) and a margin the daemon closes every held connection,
answering the half-sent ones 408."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from http_clients import Held, get, metric, token_daemon  # noqa: E402
from scenario_support import check, expect, run_scenario  # noqa: E402

IDLE, HALF = 300, 40


def scenario(lab):
    d = token_daemon(lab)
    with Held(d.port, [f"127.0.1.{i}" for i in range(1, 21)], idle=IDLE, half=HALF) as held:
        opened = time.monotonic()
        time.sleep(0.3)
        for n in range(10):
            status, _, body, seconds = get(d.port, "/v3/volumes", timeout=5)
            check(status == 200, f"normal request {n + 1} with {IDLE} idle and {HALF} half-sent connections held: "
                                 f"answered {status} {body[:200]!r} after {seconds:.2f} s")
            expect(seconds < 1.0, f"normal request {n + 1} took {seconds:.2f} s")
            time.sleep(0.1)
        open_now = metric(d, "volmig_http_connections")
        expect(open_now is not None and open_now >= IDLE + HALF,
               f"/metrics volmig_http_connections is {open_now} with {IDLE + HALF} connections held")
        check(held.open_count() == IDLE + HALF, "the daemon closed held connections before client_socket_timeout")

        # The timeout: every held connection closed, the half-sent ones answered 408.
        outcome = {}
        while len(outcome) < IDLE + HALF and time.monotonic() - opened < 15:
            for i in range(IDLE + HALF):
                if i not in outcome:
                    closed = held.closed_by_daemon(i)
                    if closed is not False:
                        outcome[i] = (closed, time.monotonic() - opened)
            time.sleep(0.2)
        check(len(outcome) == IDLE + HALF, f"{IDLE + HALF - len(outcome)} held connections still open after 15 s")
        first = min(t for _, t in outcome.values())
        expect(first >= 8, f"a held connection was closed after {first:.1f} s, before client_socket_timeout (10 s)")
        answered = [outcome[i][0] for i in held.half]
        expect(all(a == 408 for a in answered), f"half-sent requests were answered {sorted(set(map(str, answered)))}, not 408")
        idle_answers = {outcome[i][0] for i in range(IDLE)}
        expect(idle_answers == {True}, f"idle connections got answers {idle_answers} instead of being closed")
    status, _, _, _ = get(d.port, "/v3/volumes")
    check(status == 200, f"after the held connections the daemon answers {status}")


if __name__ == "__main__":
    run_scenario(scenario)
