"""``local:<path>`` — a Hugging Face causal LM run in-process with transformers.

Forms of ``<path>``:

* ``local:/models/Qwen2.5-3B-Instruct`` (or a hub id already in the local cache);
* ``local:/models/base+/runs/bc_adapter`` — a base model plus a PEFT LoRA adapter;
* ``local:/runs/bc_adapter`` — an adapter directory (it has ``adapter_config.json``);
  its base comes from ``base_model_name_or_path``.

Prompts use the tokenizer's chat template (ChatML when it has none); decoding is greedy
at temperature 0, else sampling seeded with the seed; ``max_new_tokens`` is
``settings.max_tokens``. Tokens are counted with the tokenizer. Loaded models are
cached per (base, adapter, device), so backends made per episode share one copy.

``settings.extra``: ``device`` (``cuda`` when available, else ``cpu``), ``dtype``
(``bfloat16`` on GPU, ``float32`` on CPU), ``merge_lora`` (True), ``top_p`` (1.0),
``max_input_tokens`` (the prompt is cut from the left beyond it), ``strip_thinking`` (True).

With ``worker_decoding`` ``actions`` (the default for this backend as a worker) the reply
is decoded under :mod:`halo_plugin_qwen.constrain`: one well-formed action naming ids of
the current page.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Sequence

from halo_core.api import BackendConfigError, BackendSettings, Message, RemoteBackend
from halo_plugin_qwen.chat import render_chat
from halo_plugin_qwen.parsing import clean_qwen_text

_CACHE: dict[tuple, tuple[Any, Any]] = {}
_CACHE_LOCK = threading.Lock()


def set_torch_threads() -> None:
    """Respect ``HALO_TORCH_THREADS`` / ``OMP_NUM_THREADS`` on shared CPU machines (the
    local backend and the trainers both use it)."""
    import torch

    n = os.environ.get("HALO_TORCH_THREADS") or os.environ.get("OMP_NUM_THREADS")
    if n and n.isdigit() and int(n) > 0:
        torch.set_num_threads(int(n))


def resolve_spec(spec: str) -> tuple[str, str | None]:
    """(base, adapter or None) for a ``local:`` model string."""
    path = Path(spec).expanduser()
    if path.exists():
        config = path / "adapter_config.json"
        if config.is_file():
            try:
                base = json.loads(config.read_text()).get("base_model_name_or_path")
            except ValueError as exc:
                raise BackendConfigError(f"local:{spec}: {config} is not valid JSON: {exc}") from None
            if not base:
                raise BackendConfigError(f"local:{spec}: {config} names no base_model_name_or_path; "
                                         "use local:<base>+<adapter>")
            return str(base), str(path)
        return str(path), None
    if "+" in spec:
        for i in [i for i, c in enumerate(spec) if c == "+"]:
            base, adapter = spec[:i], spec[i + 1:]
            if Path(adapter).expanduser().exists():
                return str(Path(base).expanduser()) if Path(base).expanduser().exists() else base, \
                    str(Path(adapter).expanduser())
        base, _, adapter = spec.rpartition("+")
        return base, adapter
    return spec, None


def _looks_local(name: str) -> bool:
    """A path rather than a hub id: ``./x``, ``/x``, ``~/x``, an existing path, or any name with a
    separator (``checkpoints/qwen_bc``) — except an ``org/name`` hub id already in the local
    Hugging Face cache (``Qwen/Qwen2.5-3B-Instruct``)."""
    if name.startswith((".", "/", "~")) or Path(name).expanduser().exists():
        return True
    parts = name.split(os.sep)
    if len(parts) == 1:
        return False
    return not (len(parts) == 2 and _in_hub_cache(name))


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an id the hub library refuses is not a cached model
        return False


def first_line(text: str) -> str:
    """The first line of ``text`` that holds more than whitespace (all of it when none ends)."""
    stripped = text.lstrip()
    return stripped.split("\n", 1)[0] if "\n" in stripped else text


class FirstLineStop:
    """A transformers stopping criterion: the reply has a non-empty line and a newline after it.

    Small models write their action, then explanations; stopping at the newline saves the
    time and keeps the reply one line (a leading newline does not stop generation).
    """

    def __init__(self, tokenizer, prompt_len: int) -> None:
        self.tokenizer, self.prompt_len = tokenizer, prompt_len

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        done = [("\n" in self.tokenizer.decode(row[self.prompt_len:], skip_special_tokens=True).lstrip())
                for row in input_ids]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def action_constraint(tokenizer, bids, prompt_len: int, stop_ids, max_new_tokens: int | None = None,
                      copy_from=None, refs=None):
    """A ``LogitsProcessorList`` holding :class:`~halo_plugin_qwen.constrain.ActionConstraint`."""
    from transformers import LogitsProcessorList

    from halo_plugin_qwen.constrain import ActionConstraint

    return LogitsProcessorList([ActionConstraint(tokenizer, bids, prompt_len, stop_ids, max_new_tokens, copy_from,
                                                 refs)])


class LocalBackend(RemoteBackend):
    prefix = "local"
    free = True
    log_names = ()

    def __init__(self, model: str, settings: BackendSettings | None = None) -> None:
        super().__init__(model, settings)
        self.base, self.adapter = resolve_spec(model)
        self.supports_images = False  # text-only Qwen
        #: stop at the end of the first non-empty line (set by the few-shot worker prompt)
        self.one_line = False
        #: element ids of the current page when decoding is constrained to one valid action
        #: (``worker_decoding``, set each step by the plugin's prompt hook); None: free text
        self.constrain_bids: frozenset[str] | None = None
        #: ``worker_decoding=copy``: the texts a fill may copy from (the goal); None: any text
        self.constrain_copy: tuple[str, ...] | None = None
        #: the references (``*k``/``$k``) the prompt defines, when the worker prompt has them
        self.constrain_refs = None
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    def _host(self) -> str:
        return "local"

    def check(self) -> None:
        """Paths exist and the libraries are installed; nothing is loaded."""
        for what, name in (("model", self.base), ("adapter", self.adapter)):
            if name and _looks_local(name) and not (Path(name).expanduser() / "config.json").exists() \
                    and not (Path(name).expanduser() / "adapter_config.json").exists():
                raise BackendConfigError(f"{self.name}: {what} directory {name!r} does not exist or holds no "
                                         f"{'adapter_config.json' if what == 'adapter' else 'config.json'} "
                                         "(a hub id must already be in the local Hugging Face cache)")
        try:
            import peft  # noqa: F401
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as exc:
            raise BackendConfigError(f"{self.name}: {exc.name} is not installed; "
                                     "pip install 'halo-plugin-qwen[local]'") from None

    # -- loading
    def _device(self) -> str:
        import torch

        return (self.settings.extra or {}).get("device") or ("cuda" if torch.cuda.is_available() else "cpu")

    def load(self) -> tuple[Any, Any]:
        """(model, tokenizer), loaded once per process for this base/adapter/device."""
        if self._loaded is not None:
            return self._loaded
        self.check()
        extra = self.settings.extra or {}
        device = self._device()
        key = (self.base, self.adapter, device, extra.get("dtype"), bool(extra.get("merge_lora", True)))
        with _CACHE_LOCK:
            if key not in _CACHE:
                _CACHE[key] = self._load(device)
            self._loaded = _CACHE[key]
        return self._loaded

    def _load(self, device: str) -> tuple[Any, Any]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        extra = self.settings.extra or {}
        if device == "cpu":  # parallel episodes each run a model: more threads than cores slows them all
            set_torch_threads()
        dtype = extra.get("dtype") or ("bfloat16" if device.startswith("cuda") else "float32")
        tokenizer_dir = self.adapter if self.adapter and (Path(self.adapter) / "tokenizer_config.json").exists() \
            else self.base
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        model = AutoModelForCausalLM.from_pretrained(self.base, dtype=getattr(torch, dtype))
        if self.adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, self.adapter)
            if extra.get("merge_lora", True):
                model = model.merge_and_unload()
        model.to(device)
        model.eval()
        return model, tokenizer

    # -- one call
    def _request(self, messages: Sequence[Message], options: dict[str, Any]) -> dict[str, Any]:
        import torch

        model, tokenizer = self.load()
        extra = self.settings.extra or {}
        prompt = render_chat(tokenizer, messages)
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        limit = extra.get("max_input_tokens")
        if limit and ids.shape[1] > int(limit):
            ids = ids[:, -int(limit):]
        ids = ids.to(model.device)
        stop = [t for t in {tokenizer.eos_token_id, *tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])}
                if isinstance(t, int) and t >= 0 and t != tokenizer.unk_token_id]
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (stop[0] if stop else 0)
        kwargs: dict[str, Any] = {"max_new_tokens": int(options["max_tokens"]), "eos_token_id": stop or None,
                                  "pad_token_id": pad, "attention_mask": torch.ones_like(ids)}
        temperature = float(options["temperature"] or 0.0)
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=float(extra.get("top_p", 1.0)), top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if self.one_line:
            kwargs["stopping_criteria"] = [FirstLineStop(tokenizer, ids.shape[1])]
        if self.constrain_bids is not None:
            kwargs["logits_processor"] = action_constraint(tokenizer, self.constrain_bids, ids.shape[1], stop,
                                                          int(options["max_tokens"]), self.constrain_copy,
                                                          self.constrain_refs)
        with self._lock, torch.inference_mode():
            if temperature > 0 and options["seed"] is not None:
                torch.manual_seed(int(options["seed"]))
            output = model.generate(ids, **kwargs)
        new = output[0, ids.shape[1]:]
        raw = tokenizer.decode(new, skip_special_tokens=False)
        if self.one_line:
            raw = first_line(raw)
        return {"text": raw, "tokens_in": int(ids.shape[1]), "tokens_out": int(new.shape[0]), "model": self.model}

    def _parse(self, response: dict[str, Any]) -> tuple[str, int, int, str]:
        raw = response["text"]
        text = clean_qwen_text(raw) if (self.settings.extra or {}).get("strip_thinking", True) else raw
        return text, response["tokens_in"], response["tokens_out"], response["model"]
