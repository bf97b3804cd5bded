"""``local:<path>`` — a Hugging Face causal LM run in-process with transformers.

Forms of ``<path>``:

* ``local:/models/Qwen2.5-3B-Instruct`` (or a hub id already in the local cache);
* ``local:/models/base+/runs/bc_adapter`` — a base model plus a PEFT LoRA adapter;
* ``local:/runs/bc_adapter`` — an adapter directory (it has ``adapter_config.json``);
  its base comes from ``base_model_name_or_path``.

Prompts use the tokenizer's chat template (ChatML when it has none); decoding is greedy
at temperature 0, else sampling seeded with the seed; ``max_new_tokens`` is
``settings.max_tokens``. Tokens are counted with the tokenizer. Loaded models are
cached per (base, adapter, device), so backends made per episode share one copy, and
decoded by one :class:`~halo_plugin_qwen.engine.DecodeEngine` per model: the prompt's
constant start (every message but the last) is computed once and reused, and calls made
at the same time from several threads (episodes sharing the model) are batched.

``settings.extra``: ``device`` (``cuda`` when available, else ``cpu``), ``dtype``
(``bfloat16`` on GPU, ``float32`` on CPU; ``HALO_LOCAL_DTYPE`` sets it for every ``local:``
model of the process), ``quantize`` (``int8``: on a CPU, the decoder's linear layers run as
torch's dynamic int8 — weights int8, activations quantized per call — and the LM head stays
in float; ``HALO_LOCAL_QUANTIZE``), ``merge_lora`` (True), ``top_p`` (1.0),
``max_input_tokens`` (the prompt is cut from the left beyond it), ``strip_thinking`` (True),
``prefix_reuse`` (True), ``max_batch`` (8), ``gather_s`` (0.05: how long a free model waits
for the callers of its previous batch).

Per call, ``complete(..., options=...)`` takes the fields of :class:`LocalOptions`: stop
at the end of the first line, and (``worker_decoding`` ``actions``, the default for this
backend as a worker) decode under :mod:`halo_plugin_qwen.constrain`: one well-formed
action naming ids of the current page.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import attrs

from halo_core.api import BackendConfigError, BackendSettings, Message, RemoteBackend
from halo_plugin_qwen.chat import render_chat
from halo_plugin_qwen.parsing import clean_qwen_text

_CACHE: dict[tuple, tuple[Any, Any]] = {}
_ENGINES: dict[tuple, Any] = {}
_CACHE_LOCK = threading.Lock()


def set_torch_threads() -> int:
    """Set torch's thread count and return it: ``HALO_TORCH_THREADS`` / ``OMP_NUM_THREADS``
    when set (the local backend and the trainers both use this); otherwise torch's own
    default, except on a machine already as busy as it has cores (1-minute load average ≥
    cores), where one thread: torch's OpenMP threads wait for each other at every operation,
    and on a shared CPU each wait costs a time slice (measured on 2 cores at load 15: the
    tiny model's warm-up took 14.6 s per step with 2 threads, 1.3 s with 1)."""
    import torch

    n = os.environ.get("HALO_TORCH_THREADS") or os.environ.get("OMP_NUM_THREADS")
    if n and n.isdigit() and int(n) > 0:
        torch.set_num_threads(int(n))
    elif _machine_busy():
        torch.set_num_threads(1)
    return torch.get_num_threads()


def quantize_int8(model):
    """``model`` with its decoder's ``nn.Linear`` layers as torch's dynamic int8 (CPU): int8
    weights, activations quantized per call. The LM head (tied to the embeddings in SmolLM2
    and Qwen) stays in float, so the scores the action constraint reads are not quantized."""
    import warnings

    import torch

    head = model.get_output_embeddings()
    targets = {name for name, module in model.named_modules()
               if isinstance(module, torch.nn.Linear) and module is not head}
    with warnings.catch_warnings():  # torch.ao's eager quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, targets, dtype=torch.qint8)


def _machine_busy() -> bool:
    try:
        cores = len(os.sched_getaffinity(0))
        return cores > 1 and os.getloadavg()[0] >= cores
    except (AttributeError, OSError):  # no load average on this platform
        return False


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


def action_constraint(tokenizer, bids, prompt_len: int, stop_ids, max_new_tokens: int | None = None,
                      copy_from=None, refs=None):
    """A ``LogitsProcessorList`` holding :class:`~halo_plugin_qwen.constrain.ActionConstraint`."""
    from transformers import LogitsProcessorList

    from halo_plugin_qwen.constrain import ActionConstraint

    return LogitsProcessorList([ActionConstraint(tokenizer, bids, prompt_len, stop_ids, max_new_tokens, copy_from,
                                                 refs)])


@attrs.frozen
class LocalOptions:
    """The per-call options of ``local:`` (``complete(messages, options={...})``), set for each
    decision by the plugin's ``halo_call_options`` from ``worker_prompt``/``worker_decoding``."""

    #: stop at the end of the first non-empty line (the few-shot prompt's contract is one line)
    one_line: bool = False
    #: decode one well-formed action naming these element ids (:mod:`~halo_plugin_qwen.constrain`); None: free text
    constrain_bids: frozenset[str] | None = attrs.field(default=None, converter=attrs.converters.optional(frozenset))
    #: with ``constrain_bids``: the texts a fill may copy from (the goal); None: any text
    constrain_copy: tuple[str, ...] | None = attrs.field(default=None, converter=attrs.converters.optional(tuple))
    #: with ``constrain_bids``: the references (``*k``/``$k``) the prompt defines
    constrain_refs: Any = None

    def processor(self, tokenizer, stop_ids, max_new_tokens: int):
        """An :class:`~halo_plugin_qwen.constrain.ActionConstraint` for one sequence (its
        generated tokens only), or None when decoding is free."""
        if self.constrain_bids is None:
            return None
        from halo_plugin_qwen.constrain import ActionConstraint

        return ActionConstraint(tokenizer, self.constrain_bids, 0, stop_ids, max_new_tokens, self.constrain_copy,
                                self.constrain_refs)


def stop_tokens(tokenizer) -> list[int]:
    """The ids that end a reply: the tokenizer's end of sequence and the ChatML end markers it has."""
    ids = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    return [t for t in {tokenizer.eos_token_id, *ids} if isinstance(t, int) and t >= 0 and t != tokenizer.unk_token_id]


def prompt_ids(tokenizer, messages: Sequence[Message]) -> tuple[list[int], int]:
    """(the prompt's token ids, how many of them are its constant start): every message but
    the last, when its tokens begin the prompt's tokens (0 otherwise)."""
    ids = tokenizer(render_chat(tokenizer, messages), add_special_tokens=False)["input_ids"]
    if len(messages) < 2:
        return ids, 0
    head = tokenizer(render_chat(tokenizer, messages[:-1], add_generation_prompt=False),
                     add_special_tokens=False)["input_ids"]
    return ids, (len(head) if ids[:len(head)] == head else 0)


class LocalBackend(RemoteBackend):
    prefix = "local"
    free = True
    log_names = ()
    #: the per-call options this backend declares (see :func:`halo_core.backends.declared_options`)
    Options = LocalOptions

    def __init__(self, model: str, settings: BackendSettings | None = None) -> None:
        super().__init__(model, settings)
        self.base, self.adapter = resolve_spec(model)
        self.supports_images = False  # text-only Qwen
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
        dtype, quantize = self._dtype(device), self._quantize(device)
        key = (self.base, self.adapter, device, dtype, quantize, bool(extra.get("merge_lora", True)))
        with _CACHE_LOCK:
            if key not in _CACHE:
                _CACHE[key] = self._load(device, dtype, quantize)
            self._loaded = _CACHE[key]
        return self._loaded

    def _load(self, device: str, dtype: str, quantize: str) -> tuple[Any, Any]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        extra = self.settings.extra or {}
        if device == "cpu":  # parallel episodes each run a model: more threads than cores slows them all
            set_torch_threads()
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
        if quantize == "int8":
            model = quantize_int8(model)
        return model, tokenizer

    def _dtype(self, device: str) -> str:
        import torch

        dtype = ((self.settings.extra or {}).get("dtype") or os.environ.get("HALO_LOCAL_DTYPE")
                 or ("bfloat16" if device.startswith("cuda") else "float32"))
        if not isinstance(getattr(torch, str(dtype), None), torch.dtype):
            raise BackendConfigError(f"{self.name}: dtype {dtype!r} is not a torch dtype (float32, bfloat16, float16)")
        return str(dtype)

    def _quantize(self, device: str) -> str:
        how = str((self.settings.extra or {}).get("quantize") or os.environ.get("HALO_LOCAL_QUANTIZE") or "")
        if how in ("", "none"):
            return ""
        if how != "int8":
            raise BackendConfigError(f"{self.name}: quantize {how!r} is not known; use int8 (CPU) or none")
        if device != "cpu":
            raise BackendConfigError(f"{self.name}: quantize=int8 is torch's CPU dynamic quantization; "
                                     f"this model runs on {device}")
        return how

    def engine(self):
        """The :class:`~halo_plugin_qwen.engine.DecodeEngine` of this backend's model (one per
        loaded model and ``prefix_reuse`` setting, shared by every backend using it)."""
        from halo_plugin_qwen.engine import DecodeEngine

        model, tokenizer = self.load()
        extra = self.settings.extra or {}
        reuse = bool(extra.get("prefix_reuse", True))
        key = (id(model), reuse)
        with _CACHE_LOCK:
            engine = _ENGINES.get(key)
            if engine is None:
                engine = _ENGINES[key] = DecodeEngine(model, tokenizer, prefix_reuse=reuse,
                                                      max_batch=int(extra.get("max_batch", 8)),
                                                      gather_s=float(extra.get("gather_s", 0.05)))
        return engine

    # -- one call
    def _request(self, messages: Sequence[Message], options: dict[str, Any]) -> dict[str, Any]:
        from halo_plugin_qwen.engine import Request

        engine = self.engine()
        tokenizer = engine.tokenizer
        call = options.get("call") or LocalOptions()
        extra = self.settings.extra or {}
        ids, constant = prompt_ids(tokenizer, messages)
        limit = extra.get("max_input_tokens")
        if limit and len(ids) > int(limit):
            ids, constant = ids[-int(limit):], 0
        stop = stop_tokens(tokenizer)
        max_new = int(options["max_tokens"])
        request = Request(ids, max_new, tuple(stop), temperature=float(options["temperature"] or 0.0),
                          top_p=float(extra.get("top_p", 1.0)), seed=options["seed"], one_line=call.one_line,
                          processor=call.processor(tokenizer, stop, max_new), prefix_len=constant)
        engine.submit(request)
        raw = tokenizer.decode(request.out, skip_special_tokens=False)
        if call.one_line:
            raw = first_line(raw)
        return {"text": raw, "tokens_in": len(ids), "tokens_out": len(request.out), "model": self.model}

    def _parse(self, response: dict[str, Any]) -> tuple[str, int, int, str]:
        raw = response["text"]
        text = clean_qwen_text(raw) if (self.settings.extra or {}).get("strip_thinking", True) else raw
        return text, response["tokens_in"], response["tokens_out"], response["model"]
