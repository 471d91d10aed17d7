#!/usr/bin/env python3
"""Bytes that are not UTF-8 never cost a client its answer: a path with \\xff\\xfe gets a 404
whose JSON body is valid UTF-8 (the bad bytes replaced), a Host header with them gets the
listing with links built from the daemon's own address, an OpenStack-API-Version header with
them gets a 400; each one a complete HTTP response, and the daemon's log line for it escapes the
bytes."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from http_clients import TOKEN, exchange, json_body, token_daemon  # noqa: E402
from scenario_support import check, run_scenario  # noqa: E402


def request(d, path=b"/v3/volumes/detail", host=b"127.0.0.1", extra=b""):
    data = (b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\nAccept: application/json\r\nX-Auth-Token: " + TOKEN.encode() +
            b"\r\nConnection: close\r\n" + extra + b"\r\n")
    status, _, body, _ = exchange(d.port, data, timeout=5)
    return status, body


def scenario(lab):
    d = token_daemon(lab)
    vid = d.request("POST", "/v3/volumes", {"volume": {"size": 1, "name": "linked"}}, expect=202)["volume"]["id"]

    status, body = request(d, path=b"/v3/volumes/\xff\xfe")
    check(status == 404, f"a path with bytes that are not UTF-8 was answered {status} {body[:200]!r}")
    check("\ufffd" in json_body(body)["itemNotFound"]["message"], f"the 404 message does not show the replaced bytes: {body!r}")

    status, body = request(d, host=b"\xff\xfe.example")
    check(status == 200, f"a Host header with bytes that are not UTF-8 was answered {status} {body[:200]!r}")
    links = [link["href"] for v in json_body(body)["volumes"] for link in v["links"]]
    check(links and all(href.startswith(f"http://127.0.0.1:{d.port}/v3/volumes/{vid}") for href in links),
          f"the links were not built from the daemon's address: {links}")

    status, body = request(d, extra=b"OpenStack-API-Version: volume \xff\r\n")
    check(status == 400, f"an OpenStack-API-Version with bytes that are not UTF-8 was answered {status} {body[:200]!r}")
    json_body(body)

    logged = [line for line in open(d.log_path) if "GET /v3/volumes/\\xff\\xfe 404" in line]
    check(logged, "the log has no line for the request, its bytes escaped")


if __name__ == "__main__":
    run_scenario(scenario)
