"""Peers played by Python, for scenarios about what a source daemon does with its peer's answers.

FakePeer answers the calls a source makes of its destination (api/migration.cpp) the way a
healthy volmigd would, records every request, and answers one call, or several, with a reply
the scenario chooses instead. RefusingProxy stands in front of a real daemon and forwards
everything to it but the calls it is told to refuse.

    fake = FakePeer(capabilities=doc)          # doc: a real daemon's capability document
    fake.odd["create"] = "[]"                  # POST /v3/volumes answers `[]`
    a.peers["host-b"] = fake.url

Calls, by name: "capabilities" (GET /v3/capabilities/H@B), "create" (POST /v3/volumes), "show"
(GET /v3/volumes/ID), "delete" (DELETE /v3/volumes/ID), "prepare" and "adopt" (POST
/v3/volumes/ID/action with volmig-prepare_receive or volmig-adopt), "stream" (POST
/volmig/v1/streams/ID). Anything else is answered 404 with a Cinder-shaped error body.
"""
import http.client
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from extent_streams import end_checksum

ROUTES = (  # (method, path pattern, call); actions are told apart by their body
    ("GET", re.compile(r"^/v3/capabilities/[^/]+$"), "capabilities"),
    ("POST", re.compile(r"^/v3/volumes$"), "create"),
    ("GET", re.compile(r"^/v3/volumes/([^/]+)$"), "show"),
    ("DELETE", re.compile(r"^/v3/volumes/([^/]+)$"), "delete"),
    ("POST", re.compile(r"^/v3/volumes/([^/]+)/action$"), "action"),
    ("POST", re.compile(r"^/volmig/v1/streams/([^/]+)$"), "stream"),
)
ACTIONS = {"volmig-prepare_receive": "prepare", "volmig-adopt": "adopt"}
SUCCESS_STATUS = {"create": 202, "delete": 202}  # what Cinder answers; 200 for the rest


class Request:
    """One request the peer received: method, path (query cut off), headers, the raw body and
    the body as JSON (None when it is not JSON), the call's name and the volume id in the path."""

    def __init__(self, method, path, headers, raw):
        self.method, self.path, self.headers, self.raw = method, urlsplit(path).path, headers, raw
        self.json = None
        if raw and not self.path.startswith("/volmig/"):  # streams are binary
            try:
                self.json = json.loads(raw)
            except ValueError:
                pass
        self.call, self.volume_id = "unknown", None
        for m, pattern, call in ROUTES:
            match = pattern.match(self.path)
            if m == method and match:
                self.call = call
                self.volume_id = match.group(1) if match.groups() else None
                break
        if self.call == "action":
            keys = list(self.json) if isinstance(self.json, dict) else []
            self.call = ACTIONS.get(keys[0], "action") if len(keys) == 1 else "action"

    def __repr__(self):
        return f"{self.method} {self.path} ({self.call})"


def cinder_error(status, message):
    kind = {400: "badRequest", 404: "itemNotFound", 409: "conflictingRequest"}.get(status, "computeFault")
    return status, json.dumps({kind: {"code": status, "message": message}})


class _Handler(BaseHTTPRequestHandler):
    peer = None  # set on the subclass FakePeer makes

    def log_message(self, *args):  # quiet: the scenario prints what matters
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self):
        req = Request(self.command, self.path, dict(self.headers), self._body())
        status, text = self.peer.reply(req)
        body = text.encode() if isinstance(text, str) else text
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = do_PUT = _serve


class FakePeer:
    """A destination daemon played in Python on 127.0.0.1 (url), healthy unless told otherwise:

    capabilities  the document it was given
    create_status the status create answers ("available", or "creating" so that the source
                  polls show, which then answers "available")
    odd           call name -> the reply text to send instead of the healthy answer (status 202
                  for create, else 200), or a function of the Request that returns it; "<uuid>"
                  in it becomes a new volume id that counts as created (in `created`, deletable)
    strict_create refuse a create whose body has a field beside "volume" with the 400 an older
                  volmigd answers (False: such fields are ignored, as a Cinder would)
    requests      every Request received, in order; created: the ids create handed out
    """

    def __init__(self, capabilities=None, create_status="available"):
        self.capabilities = capabilities
        self.create_status = create_status
        self.strict_create = False
        self.odd = {}
        self.requests = []
        self.created = []
        self.volumes = {}  # id -> the volume view it answers
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"peer": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def reset(self, **settings):
        """Forgets the requests, volumes and odd replies of an earlier case; applies `settings`."""
        with self.lock:
            self.odd, self.requests, self.created, self.volumes = {}, [], [], {}
        for key, value in settings.items():
            setattr(self, key, value)

    def calls(self, name):
        with self.lock:
            return [r for r in self.requests if r.call == name]

    def reply(self, req):
        with self.lock:
            self.requests.append(req)
            odd = self.odd.get(req.call)
        if odd is not None:
            odd = odd(req) if callable(odd) else odd
            while "<uuid>" in odd:
                odd = odd.replace("<uuid>", self._new_volume(status="creating")["id"], 1)
            return SUCCESS_STATUS.get(req.call, 200), odd
        return self.answer(req)

    def _new_volume(self, size=1, name=None, status=None):
        vid = str(uuid.uuid4())
        view = {"id": vid, "name": name, "size": size, "status": status or self.create_status, "migration_status": None,
                "os-vol-host-attr:host": "host-b@thin#thin", "volmig:error": None, "metadata": {}}
        with self.lock:
            self.created.append(vid)
            self.volumes[vid] = view
        return view

    def answer(self, req):
        """The healthy answer to `req`: (status, body text)."""
        if req.call == "capabilities":
            return (200, json.dumps(self.capabilities)) if self.capabilities else cinder_error(404, "no such backend")
        if req.call == "create":
            extra = sorted(k for k in (req.json or {}) if k != "volume")
            if self.strict_create and extra:
                return cinder_error(400, f"unknown field '{extra[0]}' in the request")
            v = (req.json or {}).get("volume") or {}
            view = self._new_volume(v.get("size", 1), v.get("name"))
            answered = dict(view)
            if self.create_status != "available":
                view["status"] = "available"  # ready by the time the source asks again
            return 202, json.dumps({"volume": answered})
        with self.lock:
            view = self.volumes.get(req.volume_id)
        if req.call == "unknown" or view is None:
            return cinder_error(404, f"volume {req.volume_id} could not be found" if req.volume_id else
                                f"no such resource: {req.method} {req.path}")
        if req.call == "show":
            return 200, json.dumps({"volume": view})
        if req.call == "delete":
            with self.lock:
                del self.volumes[req.volume_id]
            return 202, ""
        if req.call == "prepare":
            view["migration_status"] = "target:" + str(req.json["volmig-prepare_receive"].get("source_volume"))
            view["fake:strategy"] = req.json["volmig-prepare_receive"].get("strategy")
            # As volmigd answers: the token, and the strategy it will apply (the one asked for).
            return 200, json.dumps({"stream_token": "fake-token-" + req.volume_id,
                                    "strategy": req.json["volmig-prepare_receive"].get("strategy"),
                                    "stream_path": "/volmig/v1/streams/" + req.volume_id})
        if req.call == "stream":
            try:
                size, checksum = end_checksum(req.raw)
            except ValueError as e:
                return cinder_error(400, str(e))
            return 200, json.dumps({"received": {
                "volume_size": size, "wire_bytes": len(req.raw), "bytes_written": len(req.raw), "bytes_skipped": 0,
                "bytes_zeroed": 0, "bytes_released": 0, "zero_method": "", "source_checksum": checksum,
                "destination_checksum": checksum, "verified": True, "seconds": 0.1,
                "strategy": self.volumes.get(req.volume_id, {}).get("fake:strategy", "full")}})
        if req.call == "adopt":
            new_id = req.json["volmig-adopt"]["volume"]["id"]
            with self.lock:
                self.volumes[new_id] = dict(self.volumes.pop(req.volume_id), id=new_id, migration_status="success")
            return 200, json.dumps({"volume_id": new_id})
        return cinder_error(400, f"unknown action in {req.path}")


class RefusingProxy(FakePeer):
    """Forwards every request to the daemon at `target_url` and relays its answer, except the
    calls named in `refuse` (call name -> (status, message)), which it answers itself with a
    Cinder-shaped error and does not forward."""

    FORWARDED_HEADERS = ("x-auth-token", "x-volmig-stream-token", "content-type", "accept", "openstack-api-version")

    def __init__(self, target_url, refuse):
        self.target = urlsplit(target_url)
        self.refuse = dict(refuse)
        super().__init__()

    def answer(self, req):
        if req.call in self.refuse:
            return cinder_error(*self.refuse[req.call])
        conn = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=120)
        try:
            headers = {k: v for k, v in req.headers.items() if k.lower() in self.FORWARDED_HEADERS}
            conn.request(req.method, req.path, body=req.raw if req.raw or req.method == "POST" else None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()
