#!/usr/bin/env python3
"""A migration plans with a peer's capability document fetched within peer_capabilities_max_age
(api/capability_cache.hpp) instead of asking for it again: the second of two migrations to the
same backend makes no capabilities call, and its plan says how old the document was. A stale
document cannot make a leaky copy: after the destination's backend "thin" is reconfigured as a
thick pool of old bytes, the next migration's sparse plan (from the document of the thin backend)
is refused by the receiver; the source fetches the document afresh, plans again onto the same
volume and the copy overwrites every stale byte. With peer_capabilities_max_age = 0 every
migration fetches the document."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from peer_doubles import RefusingProxy
from scenario_support import THIN, check, expect, fill_file, new_source, raise_problems, run_scenario, settle, volume_digest


def migrate(a, b, name, seed):
    v, _, digest = new_source(a, name, seed=seed, extents=((1, 4), (300, 8)), zeros=((100, 2),), digest=True)
    a.migrate(v["id"], "host-b@thin")
    m = settle(a, v["id"], timeout=90)["volmig:migration"]
    check(m["state"] == "success", f"migration {name} ended in {m['state']}: {m.get('error')}")
    check(volume_digest(b, b.show(v["id"])) == digest, f"migration {name}: the volume arrived with other content")
    return v, m


def pair_through_proxy(lab, source, destination, max_age):
    """`destination` started; `source` started with it as its peer through a recording proxy."""
    b = lab.daemon(destination, backends=THIN)
    proxy = RefusingProxy(b.url, refuse={})
    a = lab.daemon(source, backends=THIN, start=False, extra_defaults={"peer_capabilities_max_age": max_age})
    a.peers[destination] = proxy.url
    a.start()
    return a, b, proxy


def scenario(lab):
    a, b, proxy = pair_through_proxy(lab, "host-a", "host-b", 600)
    try:

        migrate(a, b, "first", 1)
        check(len(proxy.calls("capabilities")) == 1, f"the first migration's capability calls: {proxy.calls('capabilities')}")
        v2, m2 = migrate(a, b, "second", 2)
        check(len(proxy.calls("capabilities")) == 1, f"the second migration asked for the document again: {proxy.calls('capabilities')}")
        reasons = " ".join(m2["plan"].get("reasons") or [])
        expect("capabilities as fetched" in reasons and "s ago" in reasons, f"the plan does not say how old its document was: {reasons}")
        expect(m2["plan"]["strategy"] == "sparse", f"thin to thin planned {m2['plan']['strategy']}")
        print(f"second migration planned with the first one's document: {m2['plan']['strategy']}; {reasons[:160]}")

        # The destination's backend "thin" becomes a thick pool of old bytes (its volumes gone first).
        for v in b.volumes():
            b.delete(v["id"])
        b.stop()
        b.backends["thin"] = {"volume_driver": "thick_file", "pool_file": os.path.join(b.dir, "thin-now-thick.pool"),
                              "volume_backend_name": "thin"}
        fill_file(b.backends["thin"]["pool_file"], b"\xa5" * 4096)
        b.start()
        before = len(proxy.calls("capabilities"))
        log_from = os.path.getsize(a.log_path)
        v3, m3 = migrate(a, b, "after-reconfiguration", 3)
        check(len(proxy.calls("capabilities")) == before + 1, "the refused plan was not followed by one fetch of the document: "
              f"{len(proxy.calls('capabilities')) - before} calls")
        check(m3["plan"]["strategy"] != "sparse", f"a sparse copy onto a pool of old bytes: {m3['plan']['strategy']}")
        with open(a.log_path) as f:
            f.seek(log_from)
            log = f.read()
        expect("refused the plan made with capabilities fetched" in log, "the log does not say the receiver refused the reused document")
        # The reconfigured destination's capabilities were cached afresh: the refusal's fetch stays.
        print(f"after the reconfiguration: refused, refetched, planned {m3['plan']['strategy']}; identical")
    finally:
        proxy.close()

    # peer_capabilities_max_age = 0: every migration asks.
    c, _, proxy2 = pair_through_proxy(lab, "host-d", "host-c", 0)
    try:
        for i in range(2):
            v, _, _ = new_source(c, f"fresh-{i}", seed=10 + i, extents=((1, 2),), zeros=(), digest=True)
            c.migrate(v["id"], "host-c@thin")
            m = settle(c, v["id"], timeout=60)["volmig:migration"]
            check(m["state"] == "success", f"migration fresh-{i} ended in {m['state']}: {m.get('error')}")
        check(len(proxy2.calls("capabilities")) == 2, f"with max age 0: {len(proxy2.calls('capabilities'))} capability calls for 2 migrations")
    finally:
        proxy2.close()
    raise_problems()


if __name__ == "__main__":
    run_scenario(scenario)
