#!/usr/bin/env python3
"""A request whose Content-Length promises more than the client sends does not hold its handler:
an authenticated POST /v3/volumes announcing 100 bytes and sending 10 is answered 408 (the
message naming client_socket_timeout) within client_socket_timeout (10 s) of its start, and the
connection is closed. The daemon serves other requests meanwhile."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from http_clients import TOKEN, get, json_body, parse_response, read_to_close, token_daemon  # noqa: E402
from scenario_support import check, expect, run_scenario  # noqa: E402


def scenario(lab):
    d = token_daemon(lab)
    with socket.create_connection(("127.0.0.1", d.port), timeout=20) as s:
        t0 = time.monotonic()
        s.sendall(f"POST /v3/volumes HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {TOKEN}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"volume\":".encode())
        time.sleep(0.5)
        status, _, _, seconds = get(d.port, "/v3/volumes", timeout=5)
        check(status == 200, f"with a request waiting for its body, another request was answered {status} after {seconds:.2f} s")
        got, _ = read_to_close(s)
        waited = time.monotonic() - t0
    status, headers, body = parse_response(got)
    check(status == 408, f"a body 90 bytes short was answered {got[:200]!r} after {waited:.1f} s")
    message = next(iter(json_body(body).values()))["message"]
    check("client_socket_timeout" in message, f"the 408 does not name client_socket_timeout: {message!r}")
    expect(headers.get("connection", "").lower() == "close", f"the 408 does not close the connection: {headers}")
    check(waited <= 12, f"the 408 came {waited:.1f} s after the request, later than client_socket_timeout (10 s) allows")
    expect(waited >= 9, f"the 408 came after {waited:.1f} s, before client_socket_timeout (10 s)")


if __name__ == "__main__":
    run_scenario(scenario)
