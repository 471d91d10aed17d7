"""Tables and PASS/FAIL checks of the copy cases: the targets, the ratios, the printed rows."""

from .common import MiB, fmt_mib
from .measure import TIME_BIN


RSS_LIMIT_KIB = 64 * 1024
TARGETS = {
    "thin-file": {"peer": 0.8, "dd": 0.1},
    "thin-loop": {"peer": 0.8, "dd": 0.1},
    "full-file": {"peer": 1.0},
}


def print_case_table(title, rows, volmig_wall):
    head = ("%-38s %8s %15s %7s %8s %9s %9s %6s  %s" %
            ("tool", "wall s", "min..max", "cpu s", "RSS MiB", "dst MiB", "identical",
             "x vm", "notes"))
    print(title)
    print(head)
    print("-" * len(head))
    for r in rows:
        if "wall_median" not in r:
            why = r.get("error", "failed")
            print("%-38s %s" % (r["label"], why))
            continue
        notes = []
        if r.get("strategy"):
            notes.append("strategy=" + r["strategy"])
        if r.get("note"):
            notes.append(r["note"])
        if r["identical"] is False:
            notes.append("%d MiB DIFFER" % r["diff_mib_max"])
        ratio = ("%6.2f" % (r["wall_median"] / volmig_wall)) if volmig_wall else "     -"
        print("%-38s %8.3f %7.3f..%-7.3f %7.2f %8s %9s %9s %s  %s" % (
            r["label"], r["wall_median"], r["wall_min"], r["wall_max"], r["cpu_median"],
            fmt_rss(r["rss_max_kib"]), fmt_mib(r["dst_allocated"]),
            {True: "yes", False: "NO", None: "-"}[r["identical"]], ratio, ", ".join(notes)))


def evaluate(case, rows):
    """Ratios and PASS/FAIL targets of one timing case."""
    vm = next((r for r in rows if r["key"] == "volmig"), None)
    peers = [r for r in rows if r["group"] != "volmig" and "wall_median" in r and r["identical"]]
    dd = next((r for r in rows if r["key"] == "dd" and "wall_median" in r), None)
    ev = {"checks": []}
    vm_ok = vm is not None and "wall_median" in vm
    fastest = min(peers, key=lambda r: r["wall_median"]) if peers else None
    if fastest:
        ev["fastest_peer"] = fastest["label"]
        ev["fastest_peer_wall"] = fastest["wall_median"]
    if vm_ok and fastest:
        ev["ratio_fastest_peer"] = vm["wall_median"] / fastest["wall_median"]
    if vm_ok and dd:
        ev["ratio_cinder_dd"] = vm["wall_median"] / dd["wall_median"]
    disk = next((r for r in rows if r["group"] == "floor" and "wall_median" in r), None)
    if disk:
        ev["disk_wall"] = disk["wall_median"]
        if vm_ok:
            ev["volmig_vs_disk"] = vm["wall_median"] / disk["wall_median"]
        if fastest:
            ev["fastest_peer_vs_disk"] = fastest["wall_median"] / disk["wall_median"]

    def check(name, passed, detail):
        # passed None: could not be measured here (SKIP, neither PASS nor FAIL)
        ev["checks"].append({"name": name, "pass": None if passed is None else bool(passed),
                             "detail": detail})

    t = TARGETS.get(case, {})
    if "peer" in t:
        if "ratio_fastest_peer" in ev:
            detail = "%.3f s vs %.3f s (%s): %.2fx" % (vm["wall_median"], fastest["wall_median"],
                                                      fastest["label"], ev["ratio_fastest_peer"])
            goal = t["peer"] * fastest["wall_median"]
            if "disk_wall" in ev and goal < ev["disk_wall"] and ev["ratio_fastest_peer"] > t["peer"]:
                detail += ("; the goal, %.3f s, is below the %.3f s a plain O_DIRECT write of "
                           "the same data takes here" % (goal, ev["disk_wall"]))
            check("volmig wall <= %.1f x fastest peer" % t["peer"],
                  ev["ratio_fastest_peer"] <= t["peer"], detail)
        else:
            check("volmig wall <= %.1f x fastest peer" % t["peer"], False,
                  "no volmig result" if not vm_ok else "no peer result")
    if "dd" in t:
        if "ratio_cinder_dd" in ev:
            check("volmig wall <= %.1f x Cinder dd" % t["dd"], ev["ratio_cinder_dd"] <= t["dd"],
                  "%.3f s vs %.3f s: %.3fx" % (vm["wall_median"], dd["wall_median"],
                                              ev["ratio_cinder_dd"]))
        else:
            check("volmig wall <= %.1f x Cinder dd" % t["dd"], False,
                  "no volmig result" if not vm_ok else "no Cinder dd result")
    for r in rows:
        if r["group"] != "volmig" or not r.get("installed"):
            continue
        if "rss_max_kib" in r:
            if r["rss_max_kib"] is None:
                check("peak RSS <= 64 MiB (%s)" % r["label"], None,
                      "not measured: %s not installed" % TIME_BIN)
            else:
                check("peak RSS <= 64 MiB (%s)" % r["label"], r["rss_max_kib"] <= RSS_LIMIT_KIB,
                      "%.1f MiB" % (r["rss_max_kib"] / 1024.0))
            check("output identical (%s)" % r["label"], r["identical"],
                  "identical" if r["identical"] else "%d MiB differ" % r["diff_mib_max"])
        else:
            check("%s ran" % r["label"], False, r.get("error", "failed"))
    return ev


def verdict(passed):
    return "SKIP" if passed is None else "PASS" if passed else "FAIL"


def fmt_rss(kib):
    return "n/a" if kib is None else "%.1f" % (kib / 1024.0)


def print_checks(ev):
    if "fastest_peer" in ev:
        line = "volmig vs fastest peer (%s): %s" % (
            ev["fastest_peer"],
            "%.2fx" % ev["ratio_fastest_peer"] if "ratio_fastest_peer" in ev else "-")
        if "ratio_cinder_dd" in ev:
            line += ";  vs Cinder dd: %.3fx" % ev["ratio_cinder_dd"]
        print(line)
    if "disk_wall" in ev:
        print("disk reference (O_DIRECT write of the same data, 8 in flight): %.3f s; volmig %s, "
              "fastest peer %s of it" % (
                  ev["disk_wall"],
                  "%.2fx" % ev["volmig_vs_disk"] if "volmig_vs_disk" in ev else "-",
                  "%.2fx" % ev["fastest_peer_vs_disk"] if "fastest_peer_vs_disk" in ev else "-"))
    for c in ev["checks"]:
        print("  [%s] %s: %s" % (verdict(c["pass"]), c["name"], c["detail"]))


def print_safety(results, size):
    head = "%-38s %8s %14s %9s  %s" % ("tool", "wall s", "MiB differing", "verdict", "notes")
    print(head)
    print("-" * len(head))
    for r in results:
        if "diff_mib" not in r:
            print("%-38s %s" % (r["label"], r.get("error", "failed")))
            continue
        notes = []
        if r.get("strategy"):
            notes.append("strategy=" + r["strategy"])
        if r.get("error"):
            notes.append(r["error"])
        print("%-38s %8.3f %8d/%-5d %9s  %s" % (r["label"], r["wall"], r["diff_mib"],
                                                (size + MiB - 1) // MiB, r["verdict"],
                                                ", ".join(notes)))


