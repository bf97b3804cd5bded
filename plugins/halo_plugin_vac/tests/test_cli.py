"""``halo cache stats|clear|export`` through the real ``halo`` command group."""

from __future__ import annotations

import json

from click.testing import CliRunner

from halo_core.cli import cli
from halo_plugin_vac import Candidate, VacStore


def test_cache_commands(tmp_path):
    path = str(tmp_path / "vac.sqlite")
    store = VacStore(path)
    c = Candidate(scope="goal:g", fingerprint="fp", action_key='["click", "link", "Go", 0, []]',
                  example_action="click('3')", verb="click")
    store.record(promote=[c], hits=[("goal:g", "fp", c.action_key)])
    store.record(promote=[Candidate(scope="goal:g", fingerprint="fp2", action_key="k", example_action="noop()",
                                    verb="click")])
    store.record(fail=[Candidate(scope="goal:g", fingerprint="fp2", action_key="k", example_action="", verb="click")])
    runner = CliRunner()
    result = runner.invoke(cli, ["cache", "stats", "--path", path, "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert (stats["entries"], stats["verified"], stats["evicted"], stats["hits"]) == (2, 1, 1, 1)
    out = tmp_path / "export.jsonl"
    result = runner.invoke(cli, ["cache", "export", "--path", path, "--out", str(out)])
    assert result.exit_code == 0 and "wrote 2 entries" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["fingerprint"] for r in rows} == {"fp", "fp2"} and rows[0]["example_action"] == "click('3')"
    result = runner.invoke(cli, ["cache", "clear", "--path", path], input="n\n")
    assert result.exit_code != 0 and VacStore(path).stats()["entries"] == 2
    result = runner.invoke(cli, ["cache", "clear", "--path", path, "--yes"])
    assert result.exit_code == 0 and VacStore(path).stats()["entries"] == 0
    result = runner.invoke(cli, ["cache", "stats", "--path", str(tmp_path / "missing.sqlite")])
    assert result.exit_code != 0 and "no cache at" in result.output
