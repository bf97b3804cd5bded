"""The trajectory logger's line encoding: what orjson writes reads back as the stdlib would
have written it, records it refuses still get written, and secrets never reach the line."""

import dataclasses
import datetime
import json

from halo_core.jsonl import append_line, encode_line


@dataclasses.dataclass
class _Point:
    x: int


def _stdlib(record):
    return json.loads(json.dumps(record, ensure_ascii=False, default=str))


def test_a_line_reads_back_as_the_stdlib_would_have_written_it():
    record = {"type": "step", "text": "héllo — \u2028 \"quoted\"\n\t", "n": 3, "f": 0.1, "none": None,
              "nested": {"list": [1, "a", (2, 3)], "ok": True}, 7: "int key", "set": {"only"},
              "when": datetime.datetime(2026, 1, 2, 3, 4, 5), "point": _Point(1), "raw": b"\x00bytes"}
    line = encode_line(record, secrets=[])
    assert line.endswith(b"\n") and line.count(b"\n") == 1  # one line, whatever the text holds
    assert json.loads(line) == _stdlib(record)


def test_records_orjson_refuses_are_written_by_the_stdlib():
    huge = 2 ** 70  # beyond 64 bits
    line = encode_line({"type": "step", "big": huge, "name": "é"}, secrets=[])
    assert json.loads(line) == {"type": "step", "big": huge, "name": "é"}
    lone = "page text with a lone surrogate \ud800"
    assert json.loads(encode_line({"type": "step", "text": lone}, secrets=[]))["text"] == lone


def test_secrets_and_url_credentials_never_reach_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_API_KEY", "sk-canary-éé-123456")
    path = tmp_path / "t.jsonl"
    append_line(path, {"type": "step", "prompt": "key sk-canary-éé-123456 and http://bob:hunter22@example.com/x",
                       "big": 2 ** 70, "meta": {"k": "sk-canary-éé-123456"}})
    text = path.read_text()
    assert "sk-canary" not in text and "hunter22" not in text
    event = json.loads(text)
    assert event["prompt"] == "key [REDACTED] and http://***@example.com/x" and event["meta"]["k"] == "[REDACTED]"
