"""tools/bench --cases wan --quick over one 2 ms link: every row that ran left a destination
identical to the image (sha256 of its content), the volmig row and both nbdcopy rows were
measured with their wire bytes, the identical check is printed as PASS and the markdown table for
the README is printed. (The speed targets are the bench's business, not this test's.)"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from scenario_support import check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MiB = 1 << 20


def main():
    for tool in ("nbdkit", "nbdcopy", "qemu-img", "socat"):
        check(shutil.which(tool), "%s is not installed (tools/setup.sh installs the bench's tools)" % tool)
    work = tempfile.mkdtemp(prefix="volmig-bench-wan.", dir=os.environ.get("VOLMIG_TEST_TMP", "/var/tmp"))
    try:
        out_json = os.path.join(work, "results.json")
        env = dict(os.environ)
        run = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench"), "--cases", "wan", "--quick",
                              "--wan-links", "1000/2/thin", "--no-setup", "--volmig", os.environ["VOLMIG"],
                              "--workdir", work, "--json", out_json],
                             capture_output=True, text=True, env=env, timeout=240)
        out = run.stdout
        check(run.returncode in (0, 1), "bench exited %d (0: targets met, 1: some target not met):\n%s\n%s"
              % (run.returncode, out[-3000:], run.stderr[-3000:]))
        with open(out_json) as f:
            wan = json.load(f)["wan"]
        check(len(wan["links"]) == 1, "one link measured, got %d" % len(wan["links"]))
        link = wan["links"][0]
        check(link["link"] == {"mbit": 1000, "rtt_ms": 2, "image": "thin"}, "the link asked for: %r" % link["link"])
        rows = {r["key"]: r for r in link["rows"]}
        data = link["image"]["data"]
        check(50 * MiB < data < 54 * MiB, "the quick thin image holds ~51 MiB of data, counted %d" % data)
        for key in ("volmig-1-none", "nbdcopy-1", "nbdcopy-4"):
            r = rows[key]
            check("wall" in r, "%s was measured: %s" % (key, r.get("error")))
            check(r["wire"] >= data, "%s: %d bytes through the proxy for %d bytes of data" % (key, r["wire"], data))
        check(rows["nbdcopy-4"]["runs"][0]["connections"] == 4, "nbdcopy used 4 connections: %r" % rows["nbdcopy-4"]["runs"])
        measured = [r for r in link["rows"] if "wall" in r]
        for r in measured:
            check(r["identical"] is True, "%s: destination identical to the image" % r["label"])
        check("[PASS] 1 Gbit/s, RTT 2 ms: destination identical (volmig, 1 conn)" in out, "identical check printed:\n" + out[-3000:])
        check("== wan: markdown for the README" in out, "markdown table printed")
        lines = [l for l in out.splitlines() if l.startswith("| 1 Gbit/s, RTT 2 ms | thin")]
        check(len(lines) == len(link["rows"]), "one markdown line per row: %d for %d" % (len(lines), len(link["rows"])))
        check(wan["markdown"].splitlines()[0].startswith("| link | data | tool | wall s |"), "markdown header")
        print("ok: %d rows measured, identical; volmig %.2f s, nbdcopy 1/4 conns %.2f/%.2f s" % (
            len(measured), rows["volmig-1-none"]["wall"], rows["nbdcopy-1"]["wall"], rows["nbdcopy-4"]["wall"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
