"""Clients that speak HTTP to a daemon on raw sockets, for the scenarios about what a client can
hold (tests/scenarios/http_*.py): one request with exact bytes from a chosen source address
(all of 127/8 is loopback), connections held idle or with half a request, the daemon's RSS.
Every socket is closed by the caller's `with` or close(), also when a check fails.
"""
import json
import socket
import time

TOKEN = "scenario-token"  # the auth_token of the daemons these scenarios start


def token_daemon(lab, host="host-a", **kwargs):
    """One daemon with token auth and a thin_file backend."""
    return lab.daemon(host, backends={"thin": {"volume_driver": "thin_file"}}, auth_token=TOKEN, **kwargs)


def parse_response(data):
    """(status, headers with lower-case names, body bytes) of one HTTP response, or
    (None, {}, data) when `data` is not one."""
    if not data.startswith(b"HTTP/"):
        return None, {}, data
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode(errors="replace")
    return status, headers, body


def json_body(body):
    """The body as JSON; a body that is not UTF-8 JSON raises (a scenario fails on it)."""
    return json.loads(body.decode("utf-8"))


def read_to_close(sock):
    """What the daemon sends on `sock` until it closes the connection (EOF or reset), the
    socket's timeout passes, or (on a non-blocking socket) nothing more is there yet. Returns
    (bytes, closed)."""
    got = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return got, True
            got += chunk
    except (BlockingIOError, socket.timeout):
        return got, False
    except OSError:
        return got, True


def exchange(port, data, source="127.0.0.1", timeout=10.0):
    """Sends `data` on a new connection from `source` and reads until the daemon closes it or
    `timeout` passes. Returns (status, headers, body, seconds); status None if no answer."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0)) as s:
        s.sendall(data)
        got, _ = read_to_close(s)
    status, headers, body = parse_response(got)
    return status, headers, body, time.monotonic() - t0


def get(port, path, token=TOKEN, source="127.0.0.1", host="127.0.0.1", timeout=10.0):
    """One GET with Connection: close, as exchange() returns it."""
    req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nConnection: close\r\n"
    if token:
        req += f"X-Auth-Token: {token}\r\n"
    return exchange(port, (req + "\r\n").encode(), source=source, timeout=timeout)


class Held:
    """Connections held open from `addresses` (round robin): idle ones send nothing, half ones
    send the start of a request and stop."""

    HALF = b"POST /v3/volumes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Auth-"

    def __init__(self, port, addresses, idle=0, half=0):
        self.socks = []
        for i in range(idle + half):
            s = socket.socket()
            self.socks.append(s)
            s.bind((addresses[i % len(addresses)], 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            if i >= idle:
                s.sendall(self.HALF)
            s.setblocking(False)
        self.half = set(range(idle, idle + half))

    def closed_by_daemon(self, i):
        """Whether the daemon closed connection i (EOF or reset), after any answer it sent: the
        answer's status, or True when it closed without one; False while it is open."""
        got, closed = read_to_close(self.socks[i])
        if not closed and not got:
            return False
        status, _, _ = parse_response(got)
        return status if status is not None else True

    def open_count(self):
        return sum(1 for i in range(len(self.socks)) if self.closed_by_daemon(i) is False)

    def close(self):
        for s in self.socks:
            s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def rss_kib(daemon):
    with open(f"/proc/{daemon.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def metric(daemon, name):
    """The value of one line of GET /metrics, `name` with its labels, as a number (None if absent)."""
    status, _, body, _ = get(daemon.port, "/metrics")
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None
