"""Observation cost against page size, split into its parts, beside what the browser itself costs.

Pages of ~1k, 5k, 20k and 50k accessibility nodes are generated here and served
from 127.0.0.1. For each size the bench times, in one run and one Chromium:

* the floor: a bare ``Accessibility.getFullAXTree`` and a bare ``Page.captureScreenshot``
  (CDP, nothing else);
* HALO's parts on their own: bid marking (``mark_bids.js``), the AX tree, the DOM
  snapshot that maps bids, flattening (Python), summarizing (Python), screenshot;
* HALO's whole ``observe()`` and its bytes (AX nodes kept, summary text);
* BrowserGym's own extraction (``browsergym.core.observation``) when
  ``--browsergym /tmp/bgcore/bin/python`` names an interpreter that has it;
* memory (private pages, USS, of this process and every process under it: Playwright, all of Chromium) over 15
  steps on the 20k page, and that step's time.

Medians of ``-n`` repeats; ratios are HALO ÷ floor (AX tree + screenshot).

    .venv/bin/python bench/bench_observe.py [-n 5] [--sizes 1000,5000,20000,50000] [--browsergym PY]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from halo_core.builtins.summarizer import summarize  # noqa: E402
from halo_core.env.browser import BrowserEnvironment, scripts  # noqa: E402
from halo_core.env.browser.axtree import bids_from_snapshot, flatten_axtree  # noqa: E402
from halo_core.env.browser.session import cdp_batch as _cdp_batch  # noqa: E402
from halo_core.env.protocol import EnvSettings  # noqa: E402
from halo_core.model import TaskSpec  # noqa: E402


def page_html(n_nodes: int) -> str:
    """A catalog-like page with about ``n_nodes`` flattened AX nodes (each row gives ~6)."""
    rows = []
    for i in range(max(1, n_nodes // 6)):
        rows.append(
            f"<li><a href='/item/{i}'>Item {i}</a> <span>${i % 97}.99</span>"
            f"<button onclick='this.textContent=\"Added\"'>Add {i}</button>"
            f"<label>Qty <input type=number value=1 name=q{i}></label>"
            f"<p>Rated {i % 5} of 5 by shoppers</p></li>")
    return ("<!doctype html><html><head><title>Catalog</title></head><body>"
            "<h1>Catalog</h1><input id=search type=search placeholder=Search>"
            f"<ul>{''.join(rows)}</ul></body></html>")


def serve(root: Path) -> tuple[ThreadingHTTPServer, str]:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *a):  # noqa: D401 - silence
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def cdp_batch(cdp, commands):
    return _cdp_batch(cdp, commands, timeout_ms=300000)


def timed(fn, n: int) -> tuple[float, object]:
    out = None
    times = []
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), out


def tree_uss_mb(by_kind: dict[str, float] | None = None) -> float:
    """Unique set size (private pages) of this process and all its descendants (Playwright's
    driver, Chromium's browser, renderer, GPU and utility processes), in MB. Private pages
    are what a leak grows, and unlike RSS or PSS they do not change when other processes
    (another Chromium on the machine) map the same libraries. With ``by_kind``, it is filled
    with the MB of each kind (python, node, browser, renderer, …)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    ppid = int(fh.read().decode("utf-8", "replace").rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total_kb, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                kb = sum(int(line.split()[1]) for line in fh if line.startswith(("Private_Clean:", "Private_Dirty:")))
        except (OSError, ValueError):
            continue
        total_kb += kb
        if by_kind is not None:
            kind = _process_kind(pid)
            by_kind[kind] = by_kind.get(kind, 0.0) + kb / 1024
    return total_kb / 1024


def _process_kind(pid: int) -> str:
    if pid == os.getpid():
        return "python"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            args = fh.read().decode("utf-8", "replace").replace("\0", " ").split()  # Chromium rewrites its own
    except OSError:
        return "other"
    for arg in args:
        if arg.startswith("--type="):
            return arg[len("--type="):]
    exe = os.path.basename(args[0]) if args else ""
    return "node" if exe == "node" else ("browser" if "chrom" in exe else exe or "other")


BG_SCRIPT = r"""
import json, statistics, sys, time
from playwright.sync_api import sync_playwright
from browsergym.core.observation import (extract_merged_axtree, extract_screenshot, _pre_extract, _post_extract,
    extract_dom_snapshot, extract_dom_extra_properties)
from browsergym.utils.obs import flatten_axtree_to_str
url, exe, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with sync_playwright() as pw:
    b = pw.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
    page = b.new_context(viewport={"width": 1280, "height": 720}).new_page()
    page.goto(url)
    out = {}
    for part, fn in (("mark", lambda: _pre_extract(page, lenient=True)),
                     ("axtree", lambda: extract_merged_axtree(page)),
                     ("snapshot", lambda: extract_dom_extra_properties(extract_dom_snapshot(page), 1.0)),
                     ("screenshot", lambda: extract_screenshot(page))):
        ts = []
        for _ in range(n):
            t = time.perf_counter(); r = fn(); ts.append((time.perf_counter() - t) * 1000)
            if part == "axtree":
                tree = r
        out[part] = statistics.median(ts)
    _post_extract(page)
    t = time.perf_counter(); text = flatten_axtree_to_str(tree); out["flatten"] = (time.perf_counter() - t) * 1000
    out["text_bytes"] = len(text.encode())
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        _pre_extract(page, lenient=True); dom = extract_dom_snapshot(page); tree = extract_merged_axtree(page)
        props = extract_dom_extra_properties(dom, 1.0); extract_screenshot(page)
        _post_extract(page); flatten_axtree_to_str(tree, extra_properties=props)
        ts.append((time.perf_counter() - t) * 1000)
    out["total"] = statistics.median(ts)
    print(json.dumps(out))
    b.close()
"""


def browsergym(python: str, url: str, n: int) -> dict | str:
    from halo_core.env.chromium import find_chromium

    try:
        exe = find_chromium()
    except Exception as exc:
        return f"no Chromium: {exc}"
    try:
        proc = subprocess.run([python, "-c", BG_SCRIPT, url, exe, str(n)], capture_output=True, text=True,
                              timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {python}: {exc}"
    if proc.returncode != 0:
        return (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="repeats per measurement (median)")
    parser.add_argument("--sizes", default="1000,5000,20000,50000")
    parser.add_argument("--browsergym", default="", help="a Python with browsergym-core installed")
    parser.add_argument("--steps", type=int, default=15, help="steps of the memory run (20k page)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    with TemporaryDirectory() as tmp:
        root = Path(tmp)
        for size in sizes:
            (root / f"p{size}.html").write_text(page_html(size), encoding="utf-8")
        server, base = serve(root)
        env = BrowserEnvironment(EnvSettings(screenshot=True, navigation_timeout_ms=60000))
        rows = []
        try:
            for size in sizes:
                url = f"{base}/p{size}.html"
                env.reset(TaskSpec(id=f"bench.observe.{size}", goal="observe", start_url=url, suite="bench"))
                page = env.page
                cdp = env._cdp_for(page)
                env.observe()  # warm: bids marked, caches filled
                shot_args = {"format": env.screenshot_format, "optimizeForSpeed": True,
                             "quality": env.screenshot_quality}
                r: dict = {"size": size}
                r["floor_ax"], ax = timed(lambda: cdp_batch(cdp, [("Accessibility.getFullAXTree", {})])[0], args.n)
                r["floor_shot"], _ = timed(lambda: cdp_batch(cdp, [("Page.captureScreenshot", shot_args)]), args.n)
                r["mark"], _ = timed(lambda: cdp_batch(cdp, [("Runtime.evaluate", {
                    "expression": scripts.MARK_BIDS, "returnByValue": True})]), args.n)
                r["snapshot"], snap = timed(lambda: bids_from_snapshot(cdp_batch(cdp, [(
                    "DOMSnapshot.captureSnapshot", {"computedStyles": [], "includeDOMRects": False})])[0]), args.n)
                nodes = ax.get("nodes", [])
                r["flatten"], tree = timed(lambda: flatten_axtree(nodes, snap, max_nodes=5000), args.n)
                raw = env.observe()
                r["summarize"], obs = timed(lambda: summarize(raw), args.n)
                r["observe"], raw = timed(env.observe, args.n)
                r["ax_nodes"] = len(nodes)
                r["kept"] = len(raw.axtree)
                r["text_bytes"] = len(obs.text.encode())
                r["shot_bytes"] = len(raw.screenshot or b"")
                r["floor"] = r["floor_ax"] + r["floor_shot"]
                if args.browsergym:
                    r["bg"] = browsergym(args.browsergym, url, args.n)
                rows.append(r)
                print(f"size {size}: {json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()})}",
                      flush=True)
            print()
            print(f"{'nodes':>7} {'AX src':>7} {'kept':>5} | {'floorAX':>8} {'floorSS':>8} | {'mark':>7} "
                  f"{'snapsh':>7} {'flatten':>7} {'summ':>6} | {'observe':>8} {'ratio':>6} | {'text B':>7} "
                  f"{'shot B':>7}")
            for r in rows:
                print(f"{r['size']:>7} {r['ax_nodes']:>7} {r['kept']:>5} | {r['floor_ax']:>8.1f} "
                      f"{r['floor_shot']:>8.1f} | {r['mark']:>7.1f} {r['snapshot']:>7.1f} {r['flatten']:>7.1f} "
                      f"{r['summarize']:>6.1f} | {r['observe']:>8.1f} {r['observe'] / r['floor']:>6.2f} | "
                      f"{r['text_bytes']:>7} {r['shot_bytes']:>7}")
            for a, b in zip(rows, rows[1:]):
                print(f"  {a['size']} -> {b['size']} nodes (x{b['ax_nodes'] / a['ax_nodes']:.1f} AX nodes): "
                      f"observe x{b['observe'] / a['observe']:.1f}, floor x{b['floor'] / a['floor']:.1f}")
            for r in rows:
                if "bg" in r:
                    bg = r["bg"]
                    if isinstance(bg, dict):
                        print(f"  BrowserGym at {r['size']}: {json.dumps({k: round(v, 1) for k, v in bg.items()})}"
                              f"  HALO/BrowserGym {r['observe'] / bg['total']:.2f}")
                    else:
                        print(f"  BrowserGym at {r['size']}: cannot run ({bg})")

            # memory and step time over steps on the 20k page
            size = 20000 if 20000 in sizes else sizes[-1]
            url = f"{base}/p{size}.html"
            env.reset(TaskSpec(id="bench.observe.mem", goal="observe", start_url=url, suite="bench"))
            rss, steps = [], []
            bids = [n.bid for n in env.last_observation.axtree if n.bid and n.role == "button"]
            for i in range(args.steps):
                t = time.perf_counter()
                env.step(f"click('{bids[i % len(bids)]}')")
                steps.append((time.perf_counter() - t) * 1000)
                rss.append(tree_uss_mb())
            print(f"\n{size}-node page, {args.steps} click steps: step median {statistics.median(steps):.0f} ms "
                  f"(max {max(steps):.0f}); USS MB (this process + Playwright + all of Chromium): "
                  + " ".join(f"{m:.0f}" for m in rss))
            print(f"  USS growth steps 5->{args.steps}: {rss[-1] - rss[min(4, len(rss) - 1)]:+.1f} MB")
        finally:
            env.close()
            server.shutdown()


if __name__ == "__main__":
    main()
