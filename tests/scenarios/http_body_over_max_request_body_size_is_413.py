#!/usr/bin/env python3
"""JSON request bodies are capped at max_request_body_size (112 KiB by default, as Cinder's
osapi_max_request_body_size): an authenticated create announcing 200 KB with Expect:
100-continue is answered 413 from its head, without a 100 Continue; a chunked body counted past
112 KiB is answered 413; a create whose body is 100 KB (much metadata) is accepted."""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from http_clients import TOKEN, exchange, json_body, parse_response, token_daemon  # noqa: E402
from scenario_support import check, run_scenario  # noqa: E402

HEAD = f"POST /v3/volumes HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {TOKEN}\r\nContent-Type: application/json\r\n"


def create_body(size):
    """A create of about `size` bytes: metadata of 200-byte values."""
    count = size // 216
    metadata = {f"key{i:05d}": "v" * 200 for i in range(count)}
    return json.dumps({"volume": {"size": 1, "name": "big", "metadata": metadata}}).encode()


def scenario(lab):
    d = token_daemon(lab)

    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        s.sendall((HEAD + "Content-Length: 200000\r\nExpect: 100-continue\r\n\r\n").encode())
        status, _, body = parse_response(s.recv(65536))
    check(status == 413, f"a 200 KB body announced with Expect: 100-continue was answered {status} {body[:200]!r}")
    check("max_request_body_size" in json_body(body)["overLimit"]["message"], f"the 413 does not name the option: {body!r}")

    payload = create_body(200_000)
    chunks = b"".join(b"%x\r\n" % len(payload[i:i + 8192]) + payload[i:i + 8192] + b"\r\n" for i in range(0, len(payload), 8192))
    status, _, body, _ = exchange(d.port, (HEAD + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks + b"0\r\n\r\n")
    check(status == 413, f"a 200 KB chunked body was answered {status} {body[:200]!r}")

    payload = create_body(100_000)
    status, _, body, _ = exchange(d.port, (HEAD + f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode() + payload)
    check(status == 202, f"a {len(payload)}-byte create under max_request_body_size was answered {status} {body[:200]!r}")
    check(len(json_body(body)["volume"]["metadata"]) == 100_000 // 216, "the created volume lost metadata")


if __name__ == "__main__":
    run_scenario(scenario)
