"""The crash-point suite (tests/scenarios/crash_*.py): one daemon of a migration host-a ->
host-b SIGKILLs itself at a named point, is restarted, and nothing may be lost, stuck or left
behind.

volmigd honours VOLMIG_FAILPOINTS="name=kill[,name=kill...]": at a named point it SIGKILLs
itself. Points on the source (host-a): source.after_destination_created, source.mid_stream,
source.after_verification, source.during_adoption, source.before_source_delete; on the
destination (host-b): target.after_prepare, target.mid_stream, target.after_verification,
target.during_adoption, target.after_adoption.

crash_at(lab, point) runs one point:
  1. host-a (thin_file) and host-b (thin_file, or the backends given) with the failpoint set on
     the daemon the point belongs to; a 1 GiB sparse source with 10 MiB of known data;
  2. migrate host-a -> host-b; that daemon must die, by SIGKILL, before the migration ends;
  3. restart it without the failpoint; the migration must end (success or error) within 60 s;
  4. the volume's content is intact on exactly the side its final state names, and nothing is
     orphaned: the listings of all projects, the volume-* files of thin pools, the thick pools'
     allocated bytes (/metrics) against the volumes they hold, no loop device over a lab file;
  5. after error, a retry succeeds and leaves the same clean state.
run_points(points) runs each in a lab of its own, reports every point, and exits 1 if any failed.
"""
import os
import signal
import sys
import time
import traceback

from volmig_lab import ApiError, Lab

from scenario_support import (ENDED, THIN, check, daemon_pair, listed, loops_below, metrics, new_source, pool_files,
                              settle, volume_digest)

SOURCE_POINTS = ("source.after_destination_created", "source.mid_stream", "source.after_verification",
                 "source.during_adoption", "source.before_source_delete")
TARGET_POINTS = ("target.after_prepare", "target.mid_stream", "target.after_verification", "target.during_adoption",
                 "target.after_adoption")
THICK = {"thick": {"volume_driver": "thick_file", "pool_size": "2G"}}
EXTENTS = ((1, 4), (300, 4), (700, 2))  # 10 MiB of data in a 1 GiB sparse volume
CLEANUP_GRACE = 10  # s: clean-up of the other side may follow the final state by a moment


def eventually(checks, timeout=CLEANUP_GRACE):
    """Runs `checks` until it passes or `timeout` s have gone; then its last failure stands."""
    deadline = time.time() + timeout
    while True:
        try:
            return checks()
        except AssertionError:
            if time.time() > deadline:
                raise
            time.sleep(0.25)


def wait_for_death(victim, a, vid, point, timeout=30):
    """Waits until `victim` has exited; fails if the migration ends first or time runs out."""
    deadline = time.time() + timeout
    state = None
    while victim.running():
        try:
            state = (a.show(vid).get("volmig:migration") or {}).get("state") if a.running() else state
        except OSError:
            pass
        if state in ENDED:
            time.sleep(0.5)  # the death may be just being reaped
            check(not victim.running(), f"volmigd {victim.host} did not die at failpoint {point}: the migration ended in "
                                        f"{state} although {victim.host} ran with VOLMIG_FAILPOINTS={point}=kill "
                                        "(the failpoint is ignored, or never reached)")
        check(time.time() < deadline, f"volmigd {victim.host} did not die at failpoint {point} within {timeout} s "
                                      f"(migration state {state})")
        time.sleep(0.05)
    code = victim.proc.returncode
    check(code == -signal.SIGKILL, f"volmigd {victim.host} ended with exit code {code} at failpoint {point}, not by SIGKILL"
                                   + (f" (signal {-code}: it crashed)" if code < 0 else ""))


def check_clean(lab, a, b, vid, before, state):
    """The volume is where `state` says, intact, and nothing else is left on either side."""
    here, there = (b, a) if state == "success" else (a, b)
    view = here.show(vid)
    check(view["status"] == "available" and view["os-vol-host-attr:host"].startswith(here.host + "@"),
          f"after {state} the volume is {view['status']} on {view['os-vol-host-attr:host']} according to {here.host}")
    check(volume_digest(here, view) == before, f"after {state} the volume's content on {here.host} is not the source's")
    check([x["id"] for x in listed(here)] == [vid], f"{here.host} lists {[(x['id'], x['name']) for x in listed(here)]}, expected only {vid}")
    check(listed(there) == [], f"{there.host} still lists {[(x['id'], x['name'], x['status']) for x in listed(there)]}")
    if state == "success":
        forward = a.show(vid)
        check((forward.get("volmig:moved_to") or "").startswith("host-b@"), f"host-a's record of {vid} does not point at host-b: {forward.get('volmig:moved_to')!r}")
    else:
        try:
            got = b.show(vid)
            check(False, f"after error host-b still answers for {vid}: {got['status']} on {got['os-vol-host-attr:host']}")
        except ApiError as e:
            check(e.status == 404, f"GET {vid} on host-b answered {e.status}: {e.message}")
    for d in (a, b):
        vols = listed(d)
        for name, opts in d.backends.items():
            mine = [x for x in vols if x["os-vol-host-attr:host"].split("#")[0] == f"{d.host}@{name}"]
            if opts["volume_driver"] == "thin_file":
                files = pool_files(opts["pool_path"])
                check(files == sorted(os.path.basename(x["volmig:location"]) for x in mine),
                      f"{d.host}'s {name} pool holds {files} for the volumes {[x['id'] for x in mine]}")
            else:
                allocated = metrics(d).get(("volmig_pool_allocated_bytes", f'backend="{name}"'))
                held = sum(x["volmig:size_bytes"] for x in mine)
                check(allocated == held, f"{d.host}'s {name} pool has {allocated} bytes allocated, its volumes account for {held}")
    check(loops_below(lab.dir) == [], f"loop devices are still attached to lab files: {loops_below(lab.dir)}")


def crash_at(lab, point, b_backends=THIN):
    victim_is_source = point.startswith("source.")
    # Destination volumes a rollback could not delete (their host was down) are retried every
    # second here, so that the clean-up after the victim's restart falls within the grace.
    a, b = daemon_pair(lab, b_backends=b_backends, start=False, a_defaults={"cleanup_retry_interval": "1"})
    victim = a if victim_is_source else b
    for d in (a, b):
        d.start(env={"VOLMIG_FAILPOINTS": f"{point}=kill"} if d is victim else None)
    destination = f"host-b@{next(iter(b.backends))}"
    v, _, before = new_source(a, point, seed=sum(map(ord, point)), extents=EXTENTS, zeros=(), digest=True)
    vid = v["id"]

    a.migrate(vid, destination)
    wait_for_death(victim, a, vid, point)
    victim.start()  # without the failpoint
    end_clean_and_retry(lab, a, b, vid, before, destination, f"{point}: {victim.host} died by SIGKILL")


def end_clean_and_retry(lab, a, b, vid, before, destination, what):
    """After the crash and the restart: the migration ends within 60 s, check_clean holds, and
    after error a retry to `destination` succeeds and check_clean holds again."""
    m = settle(a, vid, timeout=60)["volmig:migration"]
    print(f"  {what}; after the restart the migration ended in {m['state']}" + (f": {m['error']}" if m.get("error") else ""))
    eventually(lambda: check_clean(lab, a, b, vid, before, m["state"]))
    if m["state"] == "error":
        a.migrate(vid, destination)
        m = settle(a, vid, timeout=60)["volmig:migration"]
        check(m["state"] == "success", f"the retry after error ended in {m['state']}: {m.get('error')}")
        eventually(lambda: check_clean(lab, a, b, vid, before, "success"))
        print("  the retry succeeded")


def run_points(points, b_backends=THIN, runner=crash_at):
    """Runs runner(lab, point, b_backends) for each point in a lab of its own; prints PASS, or
    FAIL with every failed point and the daemons' log tails, and exits 1."""
    failed = []
    for point in points:
        started = time.time()
        with Lab(volmigd=os.environ["VOLMIGD"]) as lab:
            try:
                runner(lab, point, b_backends)
                print(f"ok   {point} ({time.time() - started:.1f} s)")
            except Exception as e:  # a failed check or an API error: report it, go on with the next point
                failed.append(f"{point}: {type(e).__name__}: {e}")
                print(f"FAIL {point} ({time.time() - started:.1f} s): {type(e).__name__}: {e}", file=sys.stderr)
                if not isinstance(e, (AssertionError, ApiError)):
                    traceback.print_exc()
                for d in lab.daemons:
                    print(f"--- {d.host} log (tail) ---\n{d.log_tail(15)}", file=sys.stderr)
    if failed:
        print(f"FAIL: {len(failed)} of {len(points)} point(s):\n  " + "\n  ".join(failed), file=sys.stderr)
        sys.exit(1)
    print("PASS")
