"""Step latency: HALO's BrowserEnvironment vs agisdk's BrowserGym BrowserEnv.

Both run the same ~10-action shop flow (search, results, product, options,
add-to-cart, cart, history) against a local site served by this script, N times
each, in one process and one Playwright, on the same Chromium. A step is the
action plus the observation each environment returns (AXTree + screenshot).
Elements are found by (role, name) in each environment's own observation.

    .venv/bin/python bench/bench_env.py [-n 5] [--only halo|agisdk] [--profile]
    .venv/bin/python bench/bench_env.py --memory-episodes 200   # HALO's memory over many episodes
"""

from __future__ import annotations

import argparse
import html
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from halo_core.env.browser import BrowserEnvironment, shared_playwright  # noqa: E402
from halo_core.env.chromium import find_chromium, launch_args  # noqa: E402
from halo_core.env.protocol import EnvSettings  # noqa: E402
from halo_core.model import TaskSpec  # noqa: E402

# ----------------------------------------------------------------------------- the site

PRODUCTS = [
    (1, "Cast Iron Skillet", 39.0), (2, "Chef Knife", 59.0), (3, "Cooking Pot Deluxe", 89.0),
    (4, "Cooking Pot Mini", 29.0), (5, "Wooden Spoon Set", 12.0), (6, "Stock Pot 12qt", 65.0),
    (7, "Pot Holder Pair", 9.0), (8, "Pressure Cooker", 120.0), (9, "Tea Kettle", 35.0),
]
CART: list[tuple[int, int, bool]] = []


def _layout(title: str, body: str) -> str:
    nav = ("<header><nav><a href='/'>Home</a> <a href='/catalog'>Catalog</a> <a href='/cart'>Cart</a>"
           "</nav></header>")
    foot = "<footer><p>Shop demo</p>" + "".join(f"<a href='/help/{i}'>Help {i}</a> " for i in range(12)) + "</footer>"
    return (f"<!doctype html><html><head><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif} .card{border:1px solid #ccc;margin:4px;padding:4px}</style>"
            f"</head><body>{nav}<main>{body}</main>{foot}</body></html>")


def _home() -> str:
    cats = "".join(f"<li><a href='/search?q=cat{i}'>Category {i}</a></li>" for i in range(20))
    return _layout("Shop", "<h1>Welcome to the shop</h1>"
                   "<form action='/search' role='search'><label for='q'>Search products</label>"
                   "<input id='q' name='q' type='text'><button type='submit'>Search</button></form>"
                   f"<h2>Categories</h2><ul>{cats}</ul>")


def _search(q: str) -> str:
    hits = [p for p in PRODUCTS if q.lower() in p[1].lower()] or PRODUCTS[:3]
    items = "".join(f"<li class='card'><a href='/product/{pid}'>{html.escape(name)}</a> <span>${price:.2f}</span>"
                    f"<p>Free delivery. Rated 4.{pid} of 5.</p></li>" for pid, name, price in hits)
    return _layout(f"Results for {q}", f"<h1>Results for “{html.escape(q)}”</h1><p>{len(hits)} results</p>"
                   f"<ul>{items}</ul>")


def _product(pid: int) -> str:
    _, name, price = PRODUCTS[pid - 1]
    opts = "".join(f"<option value='{i}'>{i}</option>" for i in range(1, 11))
    related = "".join(f"<li><a href='/product/{p[0]}'>{html.escape(p[1])}</a></li>" for p in PRODUCTS if p[0] != pid)
    return _layout(name, f"<h1>{html.escape(name)}</h1><p>Price: <b>${price:.2f}</b></p>"
                   f"<form action='/cart/add'><input type='hidden' name='id' value='{pid}'>"
                   f"<label for='qty'>Quantity</label><select id='qty' name='qty'>{opts}</select>"
                   "<label><input type='checkbox' name='gift'> Gift wrap</label>"
                   "<button type='submit'>Add to cart</button></form>"
                   "<section><h2>Description</h2>" + "<p>Lorem ipsum dolor sit amet. </p>" * 8 +
                   f"</section><h2>Related</h2><ul>{related}</ul>")


def _cart() -> str:
    rows = "".join(f"<tr><td>{html.escape(PRODUCTS[pid - 1][1])}</td><td>{qty}</td><td>{'yes' if gift else 'no'}</td></tr>"
                   for pid, qty, gift in CART)
    return _layout("Cart", f"<h1>Your cart</h1><table><tr><th>Item</th><th>Qty</th><th>Gift</th></tr>{rows}</table>"
                   "<a href='/'>Continue shopping</a> <button>Checkout</button>")


def _catalog() -> str:
    rows = "".join(
        f"<tr><td><a href='/product/{i % 9 + 1}'>Catalog item {i}</a></td><td>${i % 97}.99</td>"
        f"<td><button>Add {i}</button></td><td><input type='checkbox' aria-label='Compare {i}'></td></tr>"
        for i in range(560))
    return _layout("Catalog", f"<h1>Catalog</h1><table><tr><th>Item</th><th>Price</th><th>Buy</th><th>Compare</th></tr>"
                   f"{rows}</table>")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if path == "/":
            body = _home()
        elif path == "/search":
            body = _search(q.get("q", ""))
        elif path.startswith("/product/"):
            body = _product(int(path.rsplit("/", 1)[1]))
        elif path == "/cart/add":
            CART.append((int(q.get("id", 1)), int(q.get("qty", 1)), "gift" in q))
            self.send_response(303)
            self.send_header("Location", "/cart")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        elif path == "/cart":
            body = _cart()
        elif path == "/catalog":
            body = _catalog()
        else:
            body = _layout("Help", "<h1>Help</h1>")
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


# (action template, role, name, argument) — "{bid}" is filled from the observation
FLOW = [
    ("fill('{bid}', 'pot')", "textbox", "Search products"),
    ("click('{bid}')", "button", "Search"),
    ("click('{bid}')", "link", "Cooking Pot Deluxe"),
    ("select_option('{bid}', '2')", "combobox", "Quantity"),
    ("click('{bid}')", "checkbox", "Gift wrap"),
    ("click('{bid}')", "button", "Add to cart"),
    ("scroll(0, 300)", None, None),
    ("go_back()", None, None),
    ("go_forward()", None, None),
    ("click('{bid}')", "link", "Continue shopping"),
]


# ----------------------------------------------------------------------------- adapters


class HaloRunner:
    name = "HALO"

    def __init__(self) -> None:
        self.env = BrowserEnvironment(EnvSettings(headless=True, viewport=(1280, 720), screenshot=True))
        self.obs = None

    def reset(self, url: str) -> None:
        self.obs = self.env.reset(TaskSpec(id="bench", goal="buy a pot", suite="bench", start_url=url))

    def bid(self, role: str, name: str) -> str:
        for node in self.obs.axtree:
            if node.role == role and node.name == name and node.bid:
                return node.bid
        raise LookupError(f"HALO: no {role} {name!r} on {self.obs.url}")

    def step(self, action: str) -> str:
        self.obs = self.env.step(action)
        return self.obs.last_action_error

    def url(self) -> str:
        return self.obs.url

    def node_count(self) -> int:
        return len(self.obs.axtree)

    def observe_ms(self) -> float:
        t0 = time.perf_counter()
        self.obs = self.env.step("noop()")
        return (time.perf_counter() - t0) * 1000

    def close(self) -> None:
        self.env.close()


class AgisdkRunner:
    name = "agisdk"

    def __init__(self, chromium: str | None) -> None:
        from agisdk.REAL.browsergym import core as bg_core
        from agisdk.REAL.browsergym.core.env import BrowserEnv
        from agisdk.REAL.browsergym.core.task import OpenEndedTask

        pw = shared_playwright()  # one sync Playwright per thread: share HALO's
        bg_core._set_global_playwright(pw)
        _point_launches_at(pw, chromium)
        self._cls, self._task = BrowserEnv, OpenEndedTask
        self.env = None
        self.obs = None

    def reset(self, url: str) -> None:
        if self.env is not None:
            self.env.close()
        self.env = self._cls(
            task_entrypoint=self._task, task_kwargs={"start_url": url, "goal": "buy a pot"},
            headless=True, slow_mo=0, viewport={"width": 1280, "height": 720},
        )
        self.obs, _ = self.env.reset()

    def bid(self, role: str, name: str) -> str:
        for node in self.obs["axtree_object"]["nodes"]:
            r = (node.get("role") or {}).get("value")
            n = (node.get("name") or {}).get("value")
            if r == role and n == name and node.get("browsergym_id"):
                return node["browsergym_id"]
        raise LookupError(f"agisdk: no {role} {name!r} on {self.obs['url']}")

    def step(self, action: str) -> str:
        self.obs, *_ = self.env.step(action)
        return self.obs["last_action_error"]

    def url(self) -> str:
        return self.obs["url"]

    def node_count(self) -> int:
        return len(self.obs["axtree_object"]["nodes"])

    def observe_ms(self) -> float:
        t0 = time.perf_counter()
        self.obs = self.env._get_obs()  # extraction only (no action, no 0.5 s wait)
        return (time.perf_counter() - t0) * 1000

    def close(self) -> None:
        if self.env is not None:
            self.env.close()


def _point_launches_at(pw, chromium: str | None) -> None:
    """agisdk launches Playwright's own Chromium (its chat window too): use ours, same flags as HALO."""
    if getattr(pw.chromium, "_halo_patched", False) or chromium is None:
        return
    original = pw.chromium.launch

    def launch(*args, **kwargs):
        kwargs.setdefault("executable_path", chromium)
        extra = [a for a in launch_args() if a not in (kwargs.get("args") or [])]
        kwargs["args"] = list(kwargs.get("args") or []) + extra
        return original(*args, **kwargs)

    pw.chromium.launch = launch
    pw.chromium._halo_patched = True


# ----------------------------------------------------------------------------- running


def run_flow(runner, base: str, reps: int) -> tuple[list[float], list[str]]:
    times: list[float] = []
    errors: list[str] = []
    for _ in range(reps):
        CART.clear()
        runner.reset(base + "/")
        for template, role, name in FLOW:
            try:
                action = template.format(bid=runner.bid(role, name)) if role else template
            except LookupError as exc:  # an earlier step failed: the rest of this rep is moot
                errors.append(str(exc))
                break
            t0 = time.perf_counter()
            err = runner.step(action)
            times.append((time.perf_counter() - t0) * 1000)
            if err:
                errors.append(f"{action}: {err}")
        else:
            if "/" == urlsplit(runner.url()).path:
                continue
            errors.append(f"flow ended on {runner.url()}")
    return times, errors


def big_page(runner, base: str, reps: int = 3) -> tuple[int, float]:
    runner.reset(base + "/catalog")
    ms = [runner.observe_ms() for _ in range(reps)]
    return runner.node_count(), statistics.median(ms)


def memory_run(base: str, episodes: int) -> None:
    """One HALO environment, as an evaluation worker keeps it, through ``episodes`` flows:
    memory (private pages, USS, of this process and every process under it: Playwright, all of Chromium)
    after each tenth, and the growth after warm-up."""
    from bench_observe import tree_uss_mb

    runner = HaloRunner()
    every = max(1, episodes // 10)
    samples: list[tuple[int, float]] = []
    started = time.perf_counter()
    try:
        for i in range(1, episodes + 1):
            _times, errors = run_flow(runner, base, 1)
            if errors:
                print(f"  episode {i}: {errors[0]}")
            if i == 1 or i % every == 0 or i == episodes:
                kinds: dict[str, float] = {}
                samples.append((i, tree_uss_mb(kinds)))
                print(f"  after {i:>4} episodes: USS {samples[-1][1]:.0f} MB ("
                      + ", ".join(f"{k} {v:.0f}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
                      + f"; {time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        runner.close()
    warm = next((mb for n, mb in samples if n >= min(20, episodes)), samples[0][1])
    print(f"\nUSS (this process + Playwright + all of Chromium) over {episodes} episodes x {len(FLOW)} steps: first {samples[0][1]:.0f} MB, "
          f"after warm-up {warm:.0f} MB, last {samples[-1][1]:.0f} MB; growth after warm-up "
          f"{samples[-1][1] - warm:+.1f} MB ({(samples[-1][1] - warm) / max(1, episodes - 20):+.3f} MB per episode)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=5, help="repetitions of the flow (default 5)")
    ap.add_argument("--only", choices=("halo", "agisdk"))
    ap.add_argument("--profile", action="store_true", help="print HALO's time per phase")
    ap.add_argument("--memory-episodes", type=int, default=0,
                    help="instead: run HALO through this many flows and print its memory")
    args = ap.parse_args()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_port}"
    if args.memory_episodes:
        try:
            memory_run(base, args.memory_episodes)
        finally:
            srv.shutdown()
        return 0
    chromium = find_chromium(shared_playwright())
    print(f"site {base}; chromium {chromium or 'playwright bundled'}; {args.n} x {len(FLOW)} steps\n")

    results = {}
    runners = []
    if args.only != "agisdk":
        runners.append(HaloRunner())
    if args.only != "halo":
        runners.append(AgisdkRunner(chromium))
    phases: dict[str, list[float]] = {}
    acc = {r.name: ([], []) for r in runners}
    try:
        for runner in runners:
            run_flow(runner, base, 1)  # warm-up: browser launch, caches
            if isinstance(runner, HaloRunner) and args.profile:
                orig = runner.step

                def step(action, _orig=orig, _r=runner):
                    err = _orig(action)
                    for k, v in _r.env.timings.items():
                        phases.setdefault(k, []).append(v)
                    return err

                runner.step = step
        # interleave the environments rep by rep so that machine load hits both alike
        for _ in range(args.n):
            for runner in runners:
                times, errors = run_flow(runner, base, 1)
                acc[runner.name][0].extend(times)
                acc[runner.name][1].extend(errors)
        for runner in runners:
            nodes, extract_ms = big_page(runner, base)
            results[runner.name] = (*acc[runner.name], nodes, extract_ms)
    finally:
        for runner in runners:
            runner.close()
    srv.shutdown()

    print(f"{'env':<8} {'steps':>5} {'median ms':>10} {'p90 ms':>8} {'mean ms':>8} {'errors':>6} "
          f"{'big-page nodes':>15} {'big-page obs ms':>16}")
    for name, (times, errors, nodes, extract_ms) in results.items():
        p90 = sorted(times)[int(0.9 * (len(times) - 1))]
        print(f"{name:<8} {len(times):>5} {statistics.median(times):>10.1f} {p90:>8.1f} "
              f"{statistics.mean(times):>8.1f} {len(errors):>6} {nodes:>15} {extract_ms:>16.1f}")
        for e in errors[:5]:
            print(f"    error: {e}")
    if "HALO" in results and "agisdk" in results:
        ratio = statistics.median(results["HALO"][0]) / statistics.median(results["agisdk"][0])
        print(f"\nmedian step latency ratio HALO/agisdk = {ratio:.2f} (target <= 0.15: "
              f"{'met' if ratio <= 0.15 else 'MISSED'}; first target <= 0.50: {'met' if ratio <= 0.5 else 'MISSED'})")
    print("big-page: HALO counts flattened AXNodes, agisdk raw CDP AX nodes; obs ms = one observation "
          "(HALO: noop step, agisdk: _get_obs)")
    if phases:
        print("\nHALO time per phase (median ms over the flow):")
        for k in ("action", "wait", "extract", "build", "observe", "step", "nodes"):
            if k in phases:
                print(f"  {k:<8} {statistics.median(phases[k]):8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
