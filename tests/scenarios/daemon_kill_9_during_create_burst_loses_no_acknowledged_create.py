#!/usr/bin/env python3
"""No create that was answered 202 is lost when the daemon is killed: 8 clients create volumes
as fast as they can on keep-alive connections, the daemon is killed with SIGKILL in the middle of
the burst (twice), restarts on the same database, and every volume whose create was answered
202 is there (GET 200, available, the size asked for). Creates cut off unanswered may or may not
be there; none is left 'creating'."""
import http.client
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from http_clients import TOKEN, token_daemon  # noqa: E402
from scenario_support import check, run_scenario  # noqa: E402


def creator(port, acknowledged, stop):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"volume": {"size": 1}})
    headers = {"X-Auth-Token": TOKEN, "Content-Type": "application/json", "Accept": "application/json"}
    while not stop.is_set():
        try:
            conn.request("POST", "/v3/volumes", body=body, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status == 202:
                acknowledged.append(json.loads(raw)["volume"]["id"])
        except (OSError, http.client.HTTPException):
            return  # the daemon is gone
    conn.close()


def scenario(lab):
    d = token_daemon(lab)
    for burst in range(2):
        acknowledged, stop = [], threading.Event()
        threads = [threading.Thread(target=creator, args=(d.port, acknowledged, stop)) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        stop.set()
        for t in threads:
            t.join()
        check(len(acknowledged) >= 20, f"burst {burst + 1}: only {len(acknowledged)} creates were answered before the kill")
        d.start()
        volumes = {v["id"]: v for v in d.volumes()}
        missing = [vid for vid in acknowledged if vid not in volumes]
        check(not missing, f"burst {burst + 1}: {len(missing)} of {len(acknowledged)} acknowledged creates are gone after kill -9: {missing[:5]}")
        bad = [(vid, volumes[vid]["status"], volumes[vid]["size"]) for vid in acknowledged
               if volumes[vid]["status"] != "available" or volumes[vid]["size"] != 1]
        check(not bad, f"burst {burst + 1}: acknowledged volumes changed by the restart: {bad[:5]}")
        creating = [vid for vid, v in volumes.items() if v["status"] == "creating"]
        check(not creating, f"burst {burst + 1}: volumes left 'creating' after the restart: {creating[:5]}")
        print(f"burst {burst + 1}: {len(acknowledged)} acknowledged creates, all there; {len(volumes)} volumes in all")


if __name__ == "__main__":
    run_scenario(scenario)
