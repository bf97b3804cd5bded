"""``halo report`` embeds only screenshots that belong to the run: a trajectory is data, and
a hostile one must not pull other files (``/etc/passwd``, ``../../x``) into a shared report."""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from pathlib import Path

from halo_plugin_traces._report import build_report, image_mime
from halo_plugin_traces._rundir import RunDir


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real one-colour PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")

START = {"type": "episode_start", "task_id": "graph.shop-1", "goal": "Look around", "run_id": "r_hostile",
         "mode": "baseline_worker", "attempt_idx": 0, "config": {"policy": "worker"}}
END = {"type": "episode_end", "task_id": "graph.shop-1", "success": False, "reward": 0.0, "total_steps": 6,
       "terminated_by": "max_steps"}


def step(i: int, screenshot: str) -> dict:
    return {"type": "step", "step_idx": i, "url": f"http://127.0.0.1:9/{i}", "page_type": "page",
            "action": "scroll(0, 100)", "action_source": "worker", "last_action_error": "",
            "actionable_elements": [], "screenshot": screenshot}


def hostile_run(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    run = tmp_path / "data" / "trajectories" / "baseline_worker" / "r_hostile"
    shots = run / "graph.shop-1__attempt_0"
    shots.mkdir(parents=True)
    good = png(8, 6, (10, 200, 30))
    (shots / "step_000.png").write_bytes(good)
    # files outside the run, shaped like images so that only the path check can stop them
    outside = b"\x89PNG\r\n\x1a\n OUTSIDE-THE-RUN secret bytes"
    (tmp_path / "data" / "trajectories" / "x").write_bytes(outside)
    (tmp_path / "secret.png").write_bytes(outside)
    os.symlink(tmp_path / "secret.png", shots / "link.png")
    (shots / "notes.png").write_bytes(b"just text, named like an image")
    steps = [step(0, "graph.shop-1__attempt_0/step_000.png"), step(1, "/etc/passwd"), step(2, "../../x"),
             step(3, "graph.shop-1__attempt_0/../../../x"), step(4, "graph.shop-1__attempt_0/link.png"),
             step(5, "graph.shop-1__attempt_0/notes.png"), step(6, str(tmp_path / "secret.png"))]
    (run / "graph.shop-1__attempt_0.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in [START, *steps, END]))
    return run, {"good": good, "outside": outside}


def test_only_the_runs_own_images_are_embedded(tmp_path):
    run, data = hostile_run(tmp_path)
    result = build_report(run, tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert result.steps == 7 and result.screenshots == 1 and result.screenshots_omitted == 6
    assert html.count("data:image/") == 1
    assert f"data:image/png;base64,{base64.b64encode(data['good']).decode()}" in html
    assert base64.b64encode(data["outside"]).decode()[:24] not in html
    passwd = Path("/etc/passwd")
    if passwd.is_file():
        assert base64.b64encode(passwd.read_bytes()).decode()[:24] not in html
    assert html.count("not embedded: outside the run&#x27;s folder") == 5
    assert html.count("not embedded: not a PNG or JPEG image") == 1


def test_image_kind_comes_from_the_bytes():
    assert image_mime(png(2, 2, (1, 2, 3))) == "image/png"
    assert image_mime(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert image_mime(b"root:x:0:0:root:/root:/bin/bash") is None
    assert image_mime(b"") is None


def test_damaged_lines_are_skipped_and_shown(tmp_path):
    run, _data = hostile_run(tmp_path)
    path = run / "graph.shop-1__attempt_0.jsonl"
    path.write_text(path.read_text() + '{"type": "step", "step_idx": 9, "act\n')
    (episode,) = RunDir(run).episodes()
    assert episode.bad_lines == 1 and len(episode.recorded.steps) == 7
    assert episode.summary()["terminated_by"] == "max_steps"
    build_report(run, tmp_path / "report.html", screenshots=False)
    assert "1 damaged trajectory line(s) skipped" in (tmp_path / "report.html").read_text(encoding="utf-8")
