#!/usr/bin/env python3
"""A backend disabled through os-services (disable-log-reason) takes no migration: onto a
disabled backend of the same daemon, os-migrate_volume answers 400 with the reason and nothing
starts; onto a disabled backend of a peer, the peer refuses the destination volume, the
migration ends in error with the reason, the source is untouched and available and the peer
holds no volume. Once the peer's backend is enabled again the same migration succeeds. The
disabled state survives a restart of the daemon."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check, content_digest, daemon_pair, listed, new_source, run_scenario, settle, volume_action
from volmig_lab import GiB

REASON = "firmware upgrade"


def disable(daemon, backend, reason):
    return daemon.request("PUT", "/v3/os-services/disable-log-reason",
                          {"host": f"{daemon.host}@{backend}", "binary": "cinder-volume", "disabled_reason": reason})


def main(lab):
    a, b = daemon_pair(lab, a_backends={"thin": {"volume_driver": "thin_file"}, "other": {"volume_driver": "thin_file"}})
    v, path, digest = new_source(a, "src", backend="thin", digest=True)
    vid = v["id"]

    # Local: refused at once, with the reason.
    disable(a, "other", REASON)
    status, answer = volume_action(a, vid, {"os-migrate_volume": {"host": "host-a@other#other"}}, expect=400)
    message = answer["badRequest"]["message"]
    check(status == 400 and REASON in message and "host-a@other" in message, f"local migration onto a disabled backend: {status} {message}")
    check(a.show(vid)["migration_status"] is None, "the refused local migration left a migration_status")

    # Remote: the peer refuses the destination volume, the migration ends in error with the reason.
    disable(b, "thin", REASON)
    b.stop()
    b.start()  # the disabled state is persisted
    services = b.request("GET", "/v3/os-services?host=host-b@thin")["services"]
    check(services[0]["status"] == "disabled" and services[0]["disabled_reason"] == REASON, f"after a restart: {services}")
    a.migrate(vid, "host-b@thin#thin")
    view = settle(a, vid)
    error = view["volmig:migration"].get("error") or ""
    check(view["migration_status"] == "error" and REASON in error, f"the migration onto the disabled peer backend: {view['migration_status']}: {error}")
    check(view["status"] == "available" and view["os-vol-host-attr:host"] == "host-a@thin#thin", f"the source after the refusal: {view}")
    check(listed(b) == [], f"the peer holds volumes after refusing: {listed(b)}")

    # Enabled again: the same migration goes through, the data intact.
    b.request("PUT", "/v3/os-services/enable", {"host": "host-b@thin", "binary": "cinder-volume"})
    a.migrate(vid, "host-b@thin#thin")
    view = settle(a, vid)
    check(view["migration_status"] == "success", f"the migration after enable: {view['migration_status']}: {view['volmig:migration'].get('error')}")
    moved = b.show(vid)
    check(moved["os-vol-host-attr:host"] == "host-b@thin#thin", f"the volume is on {moved['os-vol-host-attr:host']}")
    check(content_digest(b.volume_path(moved), GiB) == digest, "the moved volume's content differs from the source's")


if __name__ == "__main__":
    run_scenario(main)
