"""RealProtocolEnvironment against a real Chromium and a stdlib site that speaks the REAL
protocol (``/config``, ``/finish``). Needs no agisdk. Skipped when no Chromium is installed.
"""

from __future__ import annotations

import html
import json
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import pytest

from halo_core.api import EnvironmentDead, EnvSettings, Evaluation, TaskSpec, find_chromium
from halo_core.local_server import LocalHTTPServer, closed_port, send_body
from halo_core.testing import within
from halo_plugin_real.protocol import RealProtocolEnvironment

try:
    find_chromium()
except RuntimeError as exc:  # pragma: no cover - BrowserNotFound, depends on the machine
    pytest.skip(str(exc), allow_module_level=True)


def page(title: str, body: str) -> str:
    return f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"


def find(obs, role: str, name: str):
    for node in obs.axtree:
        if node.role == role and node.name == name:
            return node
    raise AssertionError(f"no {role} {name!r} in {[(n.role, n.name) for n in obs.axtree]}")


class _RealHandler(BaseHTTPRequestHandler):
    state: dict = {}

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        st = type(self).state
        if parts.path == "/config":
            st.clear()
            st.update(run_id=q.get("run_id"), task_id=q.get("task_id"), latency=q.get("latency"), cart=[])
            body = page("Config", "<p>configured</p>")
        elif parts.path == "/":
            body = page("Shop", "<form action='/add'><button name='item' value='pot'>Add pot</button></form>")
        elif parts.path == "/add":
            st.setdefault("cart", []).append(q.get("item"))
            body = page("Cart", f"<p>Cart: {', '.join(st['cart'])}</p>")
        elif parts.path == "/finish":
            diff = {"initialfinaldiff": {"added": {"cart": st.get("cart", [])}}, "config": dict(st)}
            body = page("Finish", f"<pre>{html.escape(json.dumps(diff))}</pre>")
        else:
            self.send_error(404)
            return
        send_body(self, 200, body, "text/html")

    def log_message(self, *args) -> None:
        pass


class _RefusingHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        send_body(self, 451, "refused", "text/plain")

    def log_message(self, *args) -> None:
        pass


def _scorer(task, finish, final_message, infeasible):
    cart = finish["initialfinaldiff"]["added"]["cart"]
    ok = cart == ["pot"] and not infeasible
    return Evaluation(reward=1.0 if ok else 0.0, success=ok, info={"finish": finish, "msg": final_message})


@pytest.fixture(scope="module")
def real_env():
    e = RealProtocolEnvironment(EnvSettings(run_id="run7", init_timeout_s=5, navigation_timeout_ms=5000),
                                scorer=_scorer)
    yield e
    e.close()


def test_real_protocol_round_trip(real_env):
    with LocalHTTPServer(_RealHandler) as srv:
        base = srv.url
        t = TaskSpec(id="webclones.shop-1", goal="buy a pot", suite="webclones", start_url=base + "/",
                     raw={"id": "shop-1"})
        obs = real_env.reset(t)
        assert obs.title == "Shop" and obs.tabs == (base + "/",)
        assert _RealHandler.state["task_id"] == "shop-1" and _RealHandler.state["run_id"] == "run7"
        assert _RealHandler.state["latency"] == "0"
        obs = real_env.step(f"click('{find(obs, 'button', 'Add pot').bid}')")
        assert obs.title == "Cart"
        finish = real_env.finish_state()
        assert finish["initialfinaldiff"]["added"]["cart"] == ["pot"]
        assert real_env.page.url.startswith(base + "/add")  # the agent's page was not disturbed
        assert len(real_env.step("noop()").tabs) == 1
        ev = real_env.evaluate("done", False)
        assert ev.success and ev.reward == 1.0 and ev.info["msg"] == "done"


def test_real_protocol_unreachable(real_env):
    port = closed_port()
    t0 = time.monotonic()
    with pytest.raises(EnvironmentDead, match="unreachable: connection refused"):
        real_env.reset(TaskSpec(id="x", goal="g", suite="webclones", start_url=f"http://127.0.0.1:{port}/"))
    assert time.monotonic() - t0 < within(15)


def test_real_protocol_451(real_env):
    with LocalHTTPServer(_RefusingHandler) as srv:
        with pytest.raises(EnvironmentDead, match=r"refuses service \(HTTP 451\)"):
            real_env.reset(TaskSpec(id="x", goal="g", suite="webclones", start_url=srv.url))
