#!/usr/bin/env python3
"""volmig-plan_migration never waits on a peer inside the request: against a peer that accepts
connections and never answers, 24 plan requests at once are answered at once (503 with
Retry-After while the capabilities are being fetched, by a thread of the daemon's own), GET /
stays fast meanwhile, and once the fetch has timed out the plan answers 200 with the safe
`full` plan whose reasons say the capabilities could not be fetched."""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import SilentPeer, check, daemon_pair, http, new_source, run_scenario


def scenario(lab):
    a, b = daemon_pair(lab, a_defaults={"peer_timeout": 3}, start=False)
    silent = SilentPeer(b.port)  # host-b's address: accepts, never answers
    try:
        a.start()
        v, _, _ = new_source(a, "planned")
        url = f"{a.url}/v3/volumes/{v['id']}/action"
        body = {"volmig-plan_migration": {"host": "host-b@thin"}}

        answers = []
        def ask():
            t = time.time()
            status, headers, _ = http("POST", url, body)
            answers.append((status, headers.get("Retry-After"), time.time() - t))
        threads = [threading.Thread(target=ask) for _ in range(24)]
        started = time.time()
        for t in threads:
            t.start()
        t = time.time()
        status, _, _ = http("GET", a.url + "/")
        root_took = time.time() - t
        for t in threads:
            t.join()
        check(status == 300 and root_took < 1.0, f"GET / took {root_took:.2f} s (status {status}) while 24 plans were asked for")
        check(len(answers) == 24, f"{len(answers)} of 24 plan requests answered")
        slowest = max(took for _, _, took in answers)
        check(all(s == 503 and after == "1" for s, after, _ in answers), f"plan answers while fetching: {sorted(set((s, a) for s, a, _ in answers))}")
        check(slowest < 2.0, f"the slowest plan request took {slowest:.2f} s: it waited on the peer")
        check(silent.connections >= 1, "the daemon never asked host-b for its capabilities")

        # After peer_timeout the fetch gives up; the plan is then the safe one, saying why.
        deadline = time.time() + 15
        while True:
            status, _, raw = http("POST", url, body)
            if status != 503 or time.time() > deadline:
                break
            time.sleep(0.5)
        check(status == 200, f"after the fetch timed out the plan answered {status}: {raw[:300]!r}")
        plan = json.loads(raw)["plan"]
        check(plan["strategy"] == "full", f"with no capabilities the plan is {plan['strategy']}")
        check(any("could not be fetched" in r for r in plan["reasons"]), f"the plan's reasons do not say why: {plan['reasons']}")
        print(f"24 plans answered 503 in at most {slowest:.2f} s, GET / in {root_took * 1000:.0f} ms; then full: {plan['reasons'][0]}")
    finally:
        silent.close()


if __name__ == "__main__":
    run_scenario(scenario)
