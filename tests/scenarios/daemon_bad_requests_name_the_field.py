#!/usr/bin/env python3
"""Bad requests are refused with the right 4xx, in Cinder's error shape ({"badRequest": {"code":
400, "message": ...}}), with a message naming the offending field, and change nothing: malformed
JSON, unknown fields, wrong types, size 0, a size beyond the pool, an unknown volume_type, extend
to a smaller (or absurd) size, delete/extend/show of an unknown id. Every case is checked and all
failures are reported together."""
import json
import os
import sys
import urllib.error
import urllib.request

from volmig_lab import GiB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import expect, http, pool_listing, run_scenario


FAULTS = {400: "badRequest", 404: "itemNotFound", 405: "badMethod"}


def refused(d, what, method, path, status, words, raw=None, body=None):
    """Sends the request; checks status, Cinder's error shape and that the message names `words`."""
    got, headers, text = http(method, d.url + path, raw=raw, body=body)
    if not expect(got == status, f"{what}: {method} {path} answered {got}, expected {status}: {text[:300]!r}"):
        return
    expect(headers.get("Content-Type", "").startswith("application/json"), f"{what}: error Content-Type {headers.get('Content-Type')!r}")
    try:
        doc = json.loads(text)
    except ValueError:
        expect(False, f"{what}: error body is not JSON: {text[:300]!r}")
        return
    fault = FAULTS[status]
    if not expect(isinstance(doc, dict) and list(doc) == [fault] and isinstance(doc[fault], dict),
                 f"{what}: body is not Cinder's error shape {{'{fault}': {{code, message}}}}: {doc}"):
        return
    expect(doc[fault].get("code") == status, f"{what}: error code {doc[fault].get('code')!r}, expected {status}")
    message = doc[fault].get("message", "")
    for w in words:
        expect(w in message, f"{what}: message {message!r} does not name {w!r}")
    return message


def main(lab):
    d = lab.daemon("host-b", backends={
        "thin": {"volume_driver": "thin_file", "pool_size": "10G", "max_over_subscription_ratio": "1.0"},
        "thick": {"volume_driver": "thick_file", "pool_size": "2G"},
    })
    thin_pool = d.backends["thin"]["pool_path"]
    thick_pool = d.backends["thick"]["pool_file"]
    keep = d.create(2, name="keep")  # the one volume that exists; extend cases use it
    kid = keep["id"]
    kpath = keep["volmig:location"]

    # Create: bodies and fields.
    V = "/v3/volumes"
    refused(d, "malformed JSON", "POST", V, 400, ["JSON"], raw=b'{"volume": {"size": 1,')
    refused(d, "empty body", "POST", V, 400, ["body"], raw=b"")
    refused(d, "a JSON array body", "POST", V, 400, ["object"], raw=b"[1]")
    refused(d, "no volume object", "POST", V, 400, ["volume"], body={})
    refused(d, "size outside the volume object", "POST", V, 400, ["'size'"], body={"size": 1})
    refused(d, "volume is a string", "POST", V, 400, ["volume"], body={"volume": "big"})
    refused(d, "unknown top-level field", "POST", V, 400, ["colour"], body={"volume": {"size": 1}, "colour": "red"})
    refused(d, "unknown volume field", "POST", V, 400, ["volume.colour"], body={"volume": {"size": 1, "colour": "red"}})
    refused(d, "unsupported field set", "POST", V, 400, ["volume.snapshot_id"], body={"volume": {"size": 1, "snapshot_id": "abc"}})
    refused(d, "missing size", "POST", V, 400, ["volume.size"], body={"volume": {"name": "x"}})
    refused(d, "size null", "POST", V, 400, ["volume.size"], body={"volume": {"size": None}})
    refused(d, "size a word", "POST", V, 400, ["volume.size"], body={"volume": {"size": "big"}})
    refused(d, "size a fraction", "POST", V, 400, ["volume.size"], body={"volume": {"size": 1.5}})
    refused(d, "size a boolean", "POST", V, 400, ["volume.size"], body={"volume": {"size": True}})
    refused(d, "size negative", "POST", V, 400, ["volume.size", "negative"], body={"volume": {"size": -1}})
    refused(d, "size 0", "POST", V, 400, ["volume.size"], body={"volume": {"size": 0}})
    refused(d, "size \"0\"", "POST", V, 400, ["volume.size"], body={"volume": {"size": "0"}})
    refused(d, "name a number", "POST", V, 400, ["volume.name"], body={"volume": {"size": 1, "name": 5}})
    refused(d, "name too long", "POST", V, 400, ["volume.name"], body={"volume": {"size": 1, "name": "n" * 256}})
    refused(d, "description a list", "POST", V, 400, ["volume.description"], body={"volume": {"size": 1, "description": ["a"]}})
    refused(d, "metadata a string", "POST", V, 400, ["volume.metadata"], body={"volume": {"size": 1, "metadata": "a=b"}})
    refused(d, "metadata value a number", "POST", V, 400, ["volume.metadata.k"], body={"volume": {"size": 1, "metadata": {"k": 1}}})
    refused(d, "multiattach true", "POST", V, 400, ["volume.multiattach"], body={"volume": {"size": 1, "multiattach": True}})
    refused(d, "volume_type a number", "POST", V, 400, ["volume.volume_type"], body={"volume": {"size": 1, "volume_type": 5}})
    refused(d, "unknown volume_type (Cinder: 404)", "POST", V, 404, ["volume.volume_type", "gold"], body={"volume": {"size": 1, "volume_type": "gold"}})
    refused(d, "size beyond the thick pool", "POST", V, 400, ["size", "thick", "2.00 GiB"], body={"volume": {"size": 3, "volume_type": "thick"}})
    refused(d, "size beyond the thin pool's over-subscription", "POST", V, 400, ["size", "thin"], body={"volume": {"size": 9}})
    refused(d, "size beyond any pool", "POST", V, 400, ["size"], body={"volume": {"size": 1 << 40}})
    refused(d, "project URL, unknown field", "POST", "/v3/p1/volumes", 400, ["volume.colour"], body={"volume": {"size": 1, "colour": 1}})

    # Actions on the kept volume.
    A = f"/v3/volumes/{kid}/action"
    refused(d, "action: malformed JSON", "POST", A, 400, ["JSON"], raw=b"{os-extend")
    refused(d, "action: two keys", "POST", A, 400, ["one key"], body={"os-extend": {"new_size": 3}, "x": 1})
    refused(d, "action: unknown action", "POST", A, 400, ["os-frobnicate"], body={"os-frobnicate": {}})
    refused(d, "os-extend: missing new_size", "POST", A, 400, ["new_size"], body={"os-extend": {}})
    refused(d, "os-extend: unknown field", "POST", A, 400, ["size"], body={"os-extend": {"size": 3}})
    refused(d, "os-extend: new_size a word", "POST", A, 400, ["new_size"], body={"os-extend": {"new_size": "three"}})
    refused(d, "os-extend: new_size negative", "POST", A, 400, ["new_size"], body={"os-extend": {"new_size": -3}})
    refused(d, "os-extend: not an object", "POST", A, 400, ["os-extend"], body={"os-extend": 3})
    refused(d, "os-extend: smaller", "POST", A, 400, ["new_size", "larger", "2 GiB"], body={"os-extend": {"new_size": 1}})
    refused(d, "os-extend: same size", "POST", A, 400, ["new_size", "larger"], body={"os-extend": {"new_size": 2}})
    refused(d, "os-extend: beyond the thin pool", "POST", A, 400, ["new_size", "thin"], body={"os-extend": {"new_size": 11}})
    refused(d, "os-extend: beyond any pool", "POST", A, 400, ["new_size", "beyond"], body={"os-extend": {"new_size": 1 << 30}})

    # Unknown ids and methods.
    ghost = "00000000-0000-4000-8000-000000000000"
    refused(d, "delete an unknown id", "DELETE", f"/v3/volumes/{ghost}", 404, [ghost])
    refused(d, "delete an unknown id (project URL)", "DELETE", f"/v3/p1/volumes/{ghost}", 404, [ghost])
    refused(d, "show an unknown id", "GET", f"/v3/volumes/{ghost}", 404, [ghost])
    refused(d, "extend an unknown id", "POST", f"/v3/volumes/{ghost}/action", 404, [ghost], body={"os-extend": {"new_size": 3}})
    refused(d, "list with a bad limit", "GET", "/v3/volumes?limit=ten", 400, ["limit"])
    refused(d, "list with an unknown marker", "GET", f"/v3/volumes?marker={ghost}", 400, ["marker"])
    refused(d, "PUT on a volume: an unknown field", "PUT", f"/v3/volumes/{kid}", 400, ["volume.size"], body={"volume": {"size": 5}})
    refused(d, "PUT on a volume: no volume object", "PUT", f"/v3/volumes/{kid}", 400, ["\"volume\" object"], body={})
    refused(d, "POST on a volume", "POST", f"/v3/volumes/{kid}", 405, ["GET, PUT, DELETE"], body={})
    refused(d, "unknown collection", "GET", "/v3/p1/snapshots", 404, ["snapshots"])

    # Nothing was created or changed.
    vols = d.volumes()
    expect([v["id"] for v in vols] == [kid], f"volumes after the refused requests: {[(v['id'], v['status']) for v in vols]}")
    k = d.show(kid)
    expect(k["status"] == "available" and k["size"] == 2 and k["volmig:size_bytes"] == 2 * GiB, f"the kept volume changed: {k['status']} {k['size']}")
    expect(pool_listing(thin_pool) == [os.path.basename(kpath)], f"thin pool directory holds {pool_listing(thin_pool)}")
    expect(os.stat(kpath).st_size == 2 * GiB, f"the kept volume's file is {os.stat(kpath).st_size} bytes, expected {2 * GiB}")
    expect(os.stat(thick_pool).st_size == 2 * GiB, f"the thick pool file is {os.stat(thick_pool).st_size} bytes")
    metrics = urllib.request.urlopen(d.url + "/metrics", timeout=30).read().decode()
    expect('volmig_pool_allocated_bytes{backend="thick"} 0' in metrics, "the thick pool has allocated regions after refused creates")
    expect('volmig_pool_provisioned_bytes{backend="thin"} 2147483648' in metrics, "the thin pool's provisioned bytes changed")
    log = open(d.log_path).read()
    expect(log.count("created volume ") == 1, f"the log records {log.count('created volume ')} creates, expected 1")

    # Last, because it is the one known to fail: new_size * 1 GiB overflows 64 bits before the
    # range check, so 2^34 + 1 GiB wraps to 1 GiB and the message talks about the current size.
    refused(d, "os-extend: new_size that overflows bytes", "POST", A, 400, ["new_size", "beyond"], body={"os-extend": {"new_size": (1 << 34) + 1}})


if __name__ == "__main__":
    run_scenario(main)
