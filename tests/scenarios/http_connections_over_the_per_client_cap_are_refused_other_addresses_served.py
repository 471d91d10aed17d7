#!/usr/bin/env python3
"""max_connections_per_client (64) caps the connections one client address holds: with 64 idle
connections open from 127.0.3.1, further connections from it are closed at once, unanswered;
a request from 127.0.3.2 is answered 200 meanwhile; /metrics counts the refusals
(volmig_http_connections_refused_total{reason="per_client"}); the log says so in one line for
the burst, not one per refusal; once some of the 64 are closed, 127.0.3.1 is served again."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from http_clients import Held, get, metric, token_daemon  # noqa: E402
from scenario_support import check, expect, run_scenario  # noqa: E402

CAP = 64
REFUSED = 'volmig_http_connections_refused_total{reason="per_client"}'


def refused_at_once(port, source):
    """Connects from `source`: True if the daemon closed the connection within a second
    without an answer, False if it kept it open."""
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as s:
        s.settimeout(1)
        try:
            return s.recv(4096) == b""
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True


def scenario(lab):
    d = token_daemon(lab)
    with Held(d.port, ["127.0.3.1"], idle=CAP) as held:
        time.sleep(0.3)
        check(held.open_count() == CAP, f"only {held.open_count()} of {CAP} connections from one address were kept")
        for n in range(5):
            check(refused_at_once(d.port, "127.0.3.1"), f"connection {CAP + n + 1} from 127.0.3.1 was kept open")
        status, _, body, seconds = get(d.port, "/v3/volumes", source="127.0.3.2")
        check(status == 200, f"a request from 127.0.3.2 was answered {status} {body[:200]!r}")
        expect(seconds < 1, f"the request from 127.0.3.2 took {seconds:.2f} s")
        refused = metric(d, REFUSED)
        check(refused is not None and refused >= 5, f"/metrics {REFUSED} is {refused} after 5 refusals")
        lines = [line for line in open(d.log_path) if "refused" in line and "max_connections_per_client" in line]
        check(len(lines) == 1, f"the log has {len(lines)} refusal lines for one burst of 5: {lines}")
        check("127.0.3.1 has 64 open" in lines[0], f"the refusal line does not name the address and its count: {lines[0]}")
        for s in held.socks[:10]:
            s.close()
        time.sleep(0.3)
        status, _, body, _ = get(d.port, "/v3/volumes", source="127.0.3.1")
        check(status == 200, f"with 54 connections left, a request from 127.0.3.1 was answered {status} {body[:200]!r}")
        held.socks = held.socks[10:]


if __name__ == "__main__":
    run_scenario(scenario)
