"""The WAN case: volmig against nbdcopy, qemu-img and the gzip pipeline over the same emulated
links (volmig-wanproxy), side by side, interleaved runs, medians, PASS/FAIL targets and a
markdown table for the README."""

import os
import statistics
import sys
import time

from .common import GiB, MiB, fmt_mib, fmt_size, installed, repo_root
from .measure import content_digest, loadavg, warm_cache
from .report import verdict
from .wan_peers import PeerFailed, run_gzip_pipe, run_nbd
from .wan_volmig import Unsupported, VolmigPair, variant_options

WAN_LINKS = "1000/0/thin,1000/10/thin,1000/50/thin,100/20/text"
WAN_LINKS_QUICK = "1000/10/thin"
WAN_STREAMS = 4                    # N of "volmig, N connections"
WAN_LIMIT_MAX = 1.1                # volmig wall / link limit, incompressible data at 1 Gbit/s
WAN_COMPRESSION_MAX = 0.6          # volmig zstd wall / volmig without compression, compressible data
WAN_SLOW_SECONDS = 60              # a row whose first run takes longer is not repeated (bounds the run)
WAN_TIMEOUT_SECONDS = 300          # a peer run taking longer is stopped and reported as such


def parse_links(spec):
    """'MBIT/RTT_MS/IMAGE,...' -> [{"mbit", "rtt_ms", "image"}]; raises ValueError."""
    links = []
    for item in spec.split(","):
        parts = item.strip().split("/")
        if len(parts) != 3 or parts[2] not in ("thin", "text"):
            raise ValueError("link %r: expected MBIT/RTT_MS/IMAGE with IMAGE thin or text" % item)
        try:
            mbit, rtt = int(parts[0]), int(parts[1])
        except ValueError:
            raise ValueError("link %r: the rate (Mbit/s) and the RTT (ms) are whole numbers" % item) from None
        if mbit <= 0 or rtt < 0 or rtt % 2:
            # the proxy delays each direction by a whole number of milliseconds: RTT / 2
            raise ValueError("link %r: the rate must be > 0 and the RTT an even number of ms >= 0" % item)
        links.append({"mbit": mbit, "rtt_ms": rtt, "image": parts[2]})
    return links


def link_name(link):
    rate = "%g Gbit/s" % (link["mbit"] / 1000) if link["mbit"] >= 1000 else "%g Mbit/s" % link["mbit"]
    return "%s, RTT %g ms" % (rate, link["rtt_ms"])


def wan_rows(streams):
    rows = []
    for n in (1, streams):
        for comp in ("none", "zstd"):
            rows.append({"key": "volmig-%d-%s" % (n, comp), "group": "volmig", "streams": n, "compression": comp,
                         "label": "volmig, %d conn%s%s" % (n, "" if n == 1 else "s", ", zstd" if comp == "zstd" else "")})
    rows += [{"key": "nbdcopy-1", "group": "peer", "tool": "nbdcopy", "label": "nbdcopy -> nbdkit, 1 conn", "connections": 1},
             {"key": "nbdcopy-4", "group": "peer", "tool": "nbdcopy", "label": "nbdcopy -> nbdkit, 4 conns", "connections": 4},
             {"key": "qemu-img", "group": "peer", "tool": "qemu-img", "label": "qemu-img convert nbd:// (nbdkit)"},
             {"key": "gzip-pipe", "group": "peer", "tool": "socat", "label": "dd | gzip | socat ... gzip -d | dd"}]
    return rows


def wanproxy_class():
    sys.path.insert(0, os.path.join(repo_root(), "tools", "pylib"))
    import wanproxy
    wanproxy.wanproxy_binary()   # a missing binary is a setup error, said once
    return wanproxy.WanProxy


def run_link(link, image, rows, runs, env, rundir):
    """Runs every row `runs` times, interleaved, over one link; returns the rows with their runs."""
    import volmig_lab
    wanproxy = env["wanproxy"]
    src, size, src_digest = image["path"], image["size"], image["digest"]
    dst = os.path.join(rundir, "wan-dst.img")
    same = lambda path: content_digest(path)[0] == src_digest  # noqa: E731
    results = [dict(r, runs=[]) for r in rows]
    with volmig_lab.Lab(base=env["workdir"], volmigd=env["volmigd"]) as lab:
        pairs = {}
        try:
            for res in results:
                if res["group"] != "volmig":
                    if not installed(res["tool"]) or not installed("nbdkit"):
                        res["error"] = "not installed"
                    continue
                try:
                    pairs[res["key"]] = VolmigPair(lab, res["key"], link, variant_options(res["streams"], res["compression"]), wanproxy)
                    if pairs[res["key"]].note:
                        res["note"] = pairs[res["key"]].note
                except Unsupported as e:
                    res["error"] = "n/a: %s" % e
            for run in range(runs):
                for res in results:
                    if "error" in res or res.get("slow"):
                        continue
                    try:
                        if res["group"] == "volmig":
                            r = pairs[res["key"]].migrate(src, size, env["volmig"], same, "%s-%d" % (res["key"], run),
                                                          WAN_TIMEOUT_SECONDS)
                        else:
                            os.sync()
                            warm_cache(src, size)
                            if res["key"].startswith("nbdcopy"):
                                r = run_nbd("nbdcopy", src, dst, size, link, rundir, wanproxy, res["connections"], WAN_TIMEOUT_SECONDS)
                            elif res["key"] == "qemu-img":
                                r = run_nbd("qemu-img", src, dst, size, link, rundir, wanproxy, timeout=WAN_TIMEOUT_SECONDS)
                            else:
                                r = run_gzip_pipe(src, dst, size, link, rundir, wanproxy, WAN_TIMEOUT_SECONDS)
                            r["identical"] = same(dst)
                            os.unlink(dst)
                    except (PeerFailed, RuntimeError, OSError) as e:
                        res["error"] = str(e)
                        continue
                    res["runs"].append(r)
                    if run == 0 and runs > 1 and r["wall"] > WAN_SLOW_SECONDS:
                        res["slow"] = True
                        res["note"] = "1 run only: over %d s" % WAN_SLOW_SECONDS
        finally:
            for p in pairs.values():
                p.close()
    for res in results:
        if res["runs"] and "error" not in res:
            res["wall"] = statistics.median(r["wall"] for r in res["runs"])
            res["wall_min"] = min(r["wall"] for r in res["runs"])
            res["wall_max"] = max(r["wall"] for r in res["runs"])
            res["cpu"] = statistics.median(r["cpu"] for r in res["runs"])
            res["wire"] = max(r["wire"] for r in res["runs"])
            res["identical"] = all(r["identical"] for r in res["runs"])
            res["x_limit"] = res["wall"] / image["limit"](link)
    return results


def print_link(link, image, results, runs):
    print("== wan  [%s; %s image %s, %s MiB of data; link limit %.2f s; median of %d run%s]" % (
        link_name(link), image["kind"], fmt_size(image["size"]), fmt_mib(image["data"]),
        image["limit"](link), runs, "s" if runs > 1 else ""))
    head = "%-36s %8s %15s %8s %9s %7s %6s %9s  %s" % ("tool", "wall s", "min..max", "x limit", "wire MiB", "cpu s", "conns",
                                                        "identical", "notes")
    print(head)
    print("-" * len(head))
    for r in results:
        if "wall" not in r:
            print("%-36s %s" % (r["label"], r.get("error", "failed")))
            continue
        conns = r["runs"][-1].get("connections", "")
        print("%-36s %8.2f %7.2f..%-7.2f %8.2f %9s %7.2f %6s %9s  %s" % (
            r["label"], r["wall"], r["wall_min"], r["wall_max"], r["x_limit"], fmt_mib(r["wire"]), r["cpu"],
            conns, "yes" if r["identical"] else "NO", r.get("note", "")))


def best(results, pred):
    done = [r for r in results if "wall" in r and pred(r)]
    return min(done, key=lambda r: r["wall"]) if done else None


def link_checks(link, image, results):
    """The issue's targets for one link, as {"name", "pass" (None: not measurable), "detail"}."""
    checks = []
    name = link_name(link)
    for r in results:
        if r["group"] == "volmig" and "wall" in r:
            checks.append({"name": "%s: destination identical (%s)" % (name, r["label"]), "pass": r["identical"],
                           "detail": "sha256 of the content matches" if r["identical"] else "DIFFERS"})
    vm = best(results, lambda r: r["group"] == "volmig" and r["compression"] == "none")
    if image["kind"] == "thin" and link["mbit"] >= 1000:
        limit = image["limit"](link)
        checks.append({"name": "%s: volmig <= %.1f x link limit" % (name, WAN_LIMIT_MAX),
                       "pass": None if vm is None else vm["wall"] <= WAN_LIMIT_MAX * limit,
                       "detail": "no volmig result" if vm is None else "%.2f s (%s) vs limit %.2f s: %.2fx" % (
                           vm["wall"], vm["label"], limit, vm["x_limit"])})
        for key in ("nbdcopy-1", "nbdcopy-4"):
            peer = best(results, lambda r: r["key"] == key)
            ok = None if vm is None or peer is None else vm["wall"] < peer["wall"]
            checks.append({"name": "%s: volmig faster than %s" % (name, key),
                           "pass": ok, "detail": "not measured" if ok is None else "%.2f s vs %.2f s" % (vm["wall"], peer["wall"])})
    if image["kind"] == "text" and link["mbit"] <= 100:
        vz = best(results, lambda r: r["group"] == "volmig" and r["compression"] == "zstd")
        gz = best(results, lambda r: r["key"] == "gzip-pipe")
        ok = None if vz is None or vm is None else vz["wall"] <= WAN_COMPRESSION_MAX * vm["wall"]
        checks.append({"name": "%s: volmig zstd <= %.1f x volmig without compression" % (name, WAN_COMPRESSION_MAX), "pass": ok,
                       "detail": "not measured (%s)" % ("no zstd row" if vz is None else "no row without compression")
                       if ok is None else "%.2f s vs %.2f s: %.2fx" % (vz["wall"], vm["wall"], vz["wall"] / vm["wall"])})
        ok = None if vz is None or gz is None else vz["wall"] < gz["wall"]
        checks.append({"name": "%s: volmig zstd faster than the gzip pipeline" % name, "pass": ok,
                       "detail": "not measured" if ok is None else "%.2f s vs %.2f s" % (vz["wall"], gz["wall"])})
    return checks


def print_checks(checks):
    for c in checks:
        print("  [%s] %s: %s" % (verdict(c["pass"]), c["name"], c["detail"]))


def cell(text):
    return str(text).replace("|", "\\|")   # a label such as "dd | gzip" must not split the row


def markdown(links):
    out = ["| link | data | tool | wall s | x link limit | wire MiB | CPU s | identical |",
           "|---|---|---|---:|---:|---:|---:|---|"]
    for entry in links:
        link, image = entry["link"], entry["image"]
        data = "%s (%s MiB %s)" % (image["kind"], fmt_mib(image["data"]), "random" if image["kind"] == "thin" else "ext4 text")
        for r in entry["rows"]:
            if "wall" in r:
                out.append("| %s | %s | %s | %.2f | %.2f | %s | %.1f | %s |" % (
                    link_name(link), data, cell(r["label"]), r["wall"], r["x_limit"], fmt_mib(r["wire"]), r["cpu"],
                    "yes" if r["identical"] else "NO"))
            else:
                out.append("| %s | %s | %s | %s | | | | |" % (link_name(link), data, cell(r["label"]), cell(r.get("error", "failed"))))
    return "\n".join(out)


def prepare_image(kind, path, size):
    digest, data = content_digest(path, count_data=True)
    return {"kind": kind, "path": path, "size": size, "digest": digest, "data": data,
            "limit": lambda link: data * 8 / (link["mbit"] * 1e6)}


def wan_links(args):
    return parse_links(args.wan_links or (WAN_LINKS_QUICK if args.quick else WAN_LINKS))


def run_wan(args, images, env, rundir):
    """images: {"thin": (path, size), "text": (path, size)}; returns (results, checks)."""
    links = wan_links(args)
    env = dict(env, wanproxy=wanproxy_class())
    prepared, out, checks = {}, [], []
    rows = wan_rows(args.wan_streams)
    for link in links:
        if link["image"] not in prepared:
            prepared[link["image"]] = prepare_image(link["image"], *images[link["image"]])
        image = prepared[link["image"]]
        t0 = time.monotonic()
        results = run_link(link, image, rows, args.runs, env, rundir)
        print_link(link, image, results, args.runs)
        c = link_checks(link, image, results)
        print_checks(c)
        print("(link took %.0f s, load average %s; x limit = wall / (data bytes / link rate); wire = both directions "
              "through the proxy; cpu = user+sys of the daemons or the tools and their servers)" % (time.monotonic() - t0, loadavg()))
        print()
        out.append({"link": link, "image": {k: v for k, v in image.items() if k != "limit"}, "rows": results,
                    "limit_seconds": image["limit"](link), "checks": c})
        checks += c
    table = markdown(out)
    print("== wan: markdown for the README")
    print(table)
    print()
    return {"links": out, "markdown": table}, checks


WAN_IMAGE_SIZES = {"thin": 4 * GiB, "text": 1 * GiB}
WAN_IMAGE_SIZES_QUICK = {"thin": 512 * MiB, "text": 256 * MiB}
