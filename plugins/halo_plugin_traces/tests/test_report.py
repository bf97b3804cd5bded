"""``halo report``: one self-contained HTML file, checked in headless Chromium."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from halo_core.cli import cli

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


def _steps_per_episode(traced_run) -> dict[tuple[str, str], int]:
    out = {}
    for mode, folder in traced_run["traj_dirs"].items():
        for f in folder.glob("*__attempt_*.jsonl"):
            events = [json.loads(x) for x in f.read_text().splitlines()]
            task = events[0]["task_id"]
            out[(task, mode)] = sum(1 for e in events if e["type"] == "step")
    return out


@pytest.fixture
def report_file(run_copy, secret_env):
    run_dir = run_copy["results_dir"]
    # feedback (with the canary in it, redacted on write) and a raw secret in a trajectory, as if it had
    # been written before the key was configured: the report must show neither.
    CliRunner().invoke(cli, ["feedback", "add", str(run_dir), "--task", "graph.shop-buy", "--mode",
                             "baseline_worker", "--text", f"Should have gone to checkout ({secret_env})",
                             "--required", "click Go to checkout", "--prohibited", "open the price list"])
    traj = run_copy["traj_dirs"]["hierarchy_mgr_gate"] / "graph.shop-buy__attempt_0.jsonl"
    traj.write_text(traj.read_text().replace("[REDACTED]", secret_env))
    result = CliRunner().invoke(cli, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "4 episodes, 15 steps, 15 screenshots" in result.output
    return run_dir / "report.html"


def test_report_is_self_contained_and_redacted(report_file, secret_env):
    text = report_file.read_text(encoding="utf-8")
    assert secret_env not in text and "[REDACTED]" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "no external resources"
    assert "<link" not in text and "@import" not in text and "url(http" not in text
    assert text.count("data:image/png;base64,") == 15
    assert text.count("<svg") == 3 and "<details" in text


def test_report_in_headless_chromium(report_file, traced_run, tmp_path):
    from halo_core.env.browser import shared_playwright  # one sync Playwright per thread
    from halo_core.env.chromium import find_chromium

    expected = _steps_per_episode(traced_run)
    outside: list[str] = []
    p = shared_playwright()
    browser = p.chromium.launch(executable_path=find_chromium(p), headless=True, args=ARGS)
    try:
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.route("**/*", lambda route: (route.continue_() if route.request.url.startswith(("file:", "data:"))
                                          else (outside.append(route.request.url), route.abort())))
        page.goto(report_file.resolve().as_uri())
        page.wait_for_load_state("load")
        assert page.title() == "HALO report — eval_traces_test"

        # the matrix: one row per mode, plan order
        rows = page.locator("table.matrix tbody tr")
        assert rows.count() == 2
        assert rows.nth(0).locator("td").first.inner_text() == "hierarchy_mgr_gate"
        assert rows.nth(0).locator("td").nth(3).inner_text() == "50%"
        assert rows.nth(1).locator("td").nth(3).inner_text() == "0%"
        assert page.locator("svg.chart").count() == 3
        assert page.locator("svg.chart rect").count() == 6  # 3 charts × 2 modes

        episodes = page.locator("details.episode")
        assert episodes.count() == len(expected) == 4
        assert all(not episodes.nth(i).evaluate("d => d.open") for i in range(4)), "collapsed by default"
        page.click("#expand")
        shown = page.evaluate("""() => [...document.querySelectorAll('details.episode')].map(d => ({
            open: d.open, task: d.querySelector('.task').textContent, mode: d.dataset.mode,
            steps: [...d.querySelectorAll('li.step')].map(li => ({
                action: li.querySelector('code.action').textContent,
                badge: li.querySelector('.badge').textContent,
                visible: li.getBoundingClientRect().height > 0,
                imgs: [...li.querySelectorAll('img.shot')].map(i => i.complete ? i.naturalWidth : -1)}))}))""")
        seen = {}
        for ep in shown:
            assert ep["open"]
            seen[(ep["task"], ep["mode"])] = len(ep["steps"])
            for step in ep["steps"]:
                assert step["action"] and step["visible"]
                assert step["badge"] in ("worker", "manager", "cache", "macro", "recovery")
                assert step["imgs"] == [64], "every step shows its screenshot, loaded"
        assert seen == expected

        # sources, errors, gate decisions and feedback are on the page
        body = page.locator("#episodes").inner_text()
        assert "manager gate" in body and "override" in body
        assert "element '99' is not on the current page" in body
        assert page.locator("li.step.src-manager").count() == 1
        assert page.locator("li.step.has-error").count() == 2
        assert "Should have gone to checkout" in body and "must not: open the price list" in body
        assert "[REDACTED]" in body

        # the filters work
        page.select_option("#fkind", "success")
        assert page.locator("details.episode:not(.hidden)").count() == 1
        page.select_option("#fkind", "")
        page.fill("#q", "price")
        assert page.locator("details.episode:not(.hidden)").count() == 2

        # zoom a screenshot and keep a picture of the page for people to look at
        page.fill("#q", "")
        page.click("#collapse")
        page.locator("details.episode").first.locator("summary").click()
        page.evaluate("() => Promise.all([...document.querySelectorAll('details[open] img.shot')]"
                      ".map(i => i.decode()))")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        assert (tmp_path / "report.png").stat().st_size > 10_000
    finally:
        browser.close()
    assert outside == [], f"the report tried to reach the network: {outside}"
