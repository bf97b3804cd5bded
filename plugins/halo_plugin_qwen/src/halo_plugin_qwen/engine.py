"""One in-process model serving many episodes: prefix reuse and step-synchronous batching.

On a CPU, a worker call is mostly spent re-reading the same prompt start (the system turn
and the worked examples of the few-shot prompt), and episodes running side by side each
ran their own forward passes, one sequence at a time. :class:`DecodeEngine` does both
cheaply, for every ``local:`` backend that shares a loaded model:

* **prefix reuse** — the constant start of a prompt (every message but the last, as the
  caller says) is run through the model once; its key/value cache is kept
  (:class:`PrefixCache`, a few entries) and every later prompt that begins with those
  exact tokens starts from a copy of it (``torch.cat`` in ``DynamicCache.update`` copies,
  so the kept tensors are never written);
* **batching** — requests that wait while the model is busy are decoded together in one
  forward pass per token (step-synchronous: a batch runs until its last row ends; no row
  joins a running batch). Each row's prompt is computed alone, at its own length: padded
  to the longest row, the prompt pass of a batch of 8 MiniWoB prompts cost more per row
  than eight passes of one (35 vs 16 ms per row for the demo's tiny model on 2 cores; the
  prompts' lengths differ by hundreds of tokens). The rows' caches are then laid out as
  ``[prefix][padding][own tokens]`` with explicit position ids, so padding changes no
  row's positions and a padded row computes what it would alone (up to float rounding in
  the batched matrix products).

Each row keeps its own decoding: greedy or seeded sampling, its stop tokens, a stop at the
end of the first line, and its own :class:`~halo_plugin_qwen.constrain.ActionConstraint`
(the page's ids differ between episodes).

* **forced tokens** (``jump_forward``) — where a row's constraint leaves a single token
  (the only id that fits, the end of a complete action), the row takes it without a
  forward pass of its own (:meth:`ActionConstraint.forced
  <halo_plugin_qwen.constrain.ActionConstraint.forced>`); the tokens a row took that way
  are read by the next forward pass together, padded on the left like a prompt's. On a CPU
  a decoding step costs as much as reading the whole model once, so an action's closing
  ``<|im_end|>`` alone was a fifth of a short reply's steps.

transformers' own continuous batching (``generate_batch``) takes one generation config
for the whole batch (no per-request logits processor), so it cannot constrain each
episode to its own page; this loop is the small part it does not provide.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Sequence

import attrs


@attrs.define(eq=False)
class Request:
    """One prompt to complete, and (once done) its generated token ids."""

    ids: list[int]
    max_new_tokens: int
    stop_ids: tuple[int, ...] = ()
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    #: stop once the reply has a non-empty line and a newline after it
    one_line: bool = False
    #: a logits processor for this row alone, called as ``processor(generated_ids[1, n], scores[1, V])``
    processor: Any = None
    #: how many leading tokens are the prompt's constant part (0: unknown; nothing is cached for it)
    prefix_len: int = 0
    out: list[int] | None = None
    error: BaseException | None = None
    #: tokens the prompt pass computed (the prompt less the reused prefix)
    computed: int = 0

    @property
    def done(self) -> bool:
        return self.out is not None or self.error is not None


class PrefixCache:
    """Key/value caches of prompt prefixes, most recently used first (at most ``size``)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, ...], tuple] = OrderedDict()

    def longest(self, ids: Sequence[int]) -> tuple[tuple[int, ...], tuple] | None:
        """The longest kept prefix that ``ids`` starts with (and is longer than), or None."""
        best = None
        for key, layers in self._entries.items():
            if len(key) < len(ids) and (best is None or len(key) > len(best[0])) and tuple(ids[:len(key)]) == key:
                best = (key, layers)
        if best is not None:
            self._entries.move_to_end(best[0], last=False)
        return best

    def add(self, key: tuple[int, ...], layers: tuple) -> None:
        self._entries[key] = layers
        self._entries.move_to_end(key, last=False)
        while len(self._entries) > self.size:
            self._entries.popitem()

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class DecodeEngine:
    """Greedy/sampled decoding of :class:`Request` batches for one model (see the module doc).

    ``generate(requests)`` decodes a batch in the calling thread; ``submit(request)`` is
    for concurrent callers: it waits while the model is busy, and whichever caller finds
    it free decodes every waiting request with its own (at most ``max_batch``), after
    waiting up to ``gather_s`` for the callers that were in the previous batch.
    """

    def __init__(self, model, tokenizer, *, max_batch: int = 8, gather_s: float = 0.05,
                 prefix_reuse: bool = True, prefix_min_tokens: int = 16, jump_forward: bool = True) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.jump_forward = jump_forward
        #: tokens appended without a forward pass of their own (forced by a row's constraint)
        self.forced_tokens = 0
        self.max_batch, self.gather_s = max(1, int(max_batch)), float(gather_s)
        self.prefix_reuse, self.prefix_min_tokens = prefix_reuse, prefix_min_tokens
        self.prefixes = PrefixCache()
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (tokenizer.eos_token_id or 0))
        self._cond = threading.Condition()
        self._queue: list[Request] = []
        self._busy = False
        self._last_batch = 1
        #: batch sizes decoded so far (the bench and the demo report them)
        self.batch_sizes: list[int] = []

    # -- concurrent callers
    def submit(self, request: Request) -> Request:
        """Decode ``request`` together with whatever else is waiting; returns it, done."""
        with self._cond:
            self._queue.append(request)
            self._cond.notify_all()
            while not request.done and self._busy:
                self._cond.wait()
            if request.done:
                return self._result(request)
            self._busy = True
        try:
            while not request.done:
                self._run_waiting()
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
        return self._result(request)

    @staticmethod
    def _result(request: Request) -> Request:
        if request.error is not None:
            raise request.error
        return request

    def _run_waiting(self) -> None:
        deadline = time.monotonic() + self.gather_s
        with self._cond:
            want = min(self.max_batch, self._last_batch)
            while len(self._queue) < want and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            batch, self._queue[:] = self._queue[:self.max_batch], self._queue[self.max_batch:]
        if not batch:
            return
        try:
            self.generate(batch)
        except BaseException as exc:  # every waiting caller learns of it, not only this one
            for r in batch:
                if not r.done:
                    r.error = exc
        with self._cond:
            self._last_batch = len(batch)
            self._cond.notify_all()

    # -- one batch
    def _prefix_for(self, requests: Sequence[Request]):
        """(length, per-layer (key, value)) of a cached prefix every row starts with; (0, None) if none."""
        if not self.prefix_reuse:
            return 0, None
        found = [self.prefixes.longest(r.ids) for r in requests]
        if any(f is None for f in found):
            first = requests[0]
            if first.prefix_len >= self.prefix_min_tokens and first.prefix_len < len(first.ids):
                key = tuple(first.ids[:first.prefix_len])
                self.prefixes.add(key, self._compute_prefix(key))
                found = [self.prefixes.longest(r.ids) for r in requests]
            if any(f is None for f in found):
                return 0, None
        shortest = min(found, key=lambda f: len(f[0]))
        if any(f[0][:len(shortest[0])] != shortest[0] for f in found):
            return 0, None
        return len(shortest[0]), shortest[1]

    def _compute_prefix(self, key: tuple[int, ...]) -> tuple:
        import torch

        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([key], device=self.model.device), use_cache=True,
                             logits_to_keep=1)
        cache = out.cache
        return tuple((layer.keys, layer.values) for layer in cache.layers)

    def generate(self, requests: Sequence[Request]) -> None:
        """Decode every request of the batch; sets each one's ``out``."""
        import torch

        model = self.model
        device = model.device
        rows = len(requests)
        self.batch_sizes.append(rows)
        with torch.inference_mode():
            plen, layers = self._prefix_for(requests)
            own = [r.ids[plen:] for r in requests]
            width = max(len(o) for o in own)
            # each row's prompt alone (no padding: a padded prompt pass computed every row at
            # the longest row's length); then the rows' caches side by side, each row's own
            # tokens right-aligned after the shared prefix: [prefix][padding][own tokens]
            scores, cache = self._prompt_pass(own, plen, layers, width)
            mask = torch.zeros((rows, plen + width), dtype=torch.long)
            mask[:, :plen] = 1
            for i, ids in enumerate(own):
                mask[i, plen + width - len(ids):] = 1
                requests[i].computed = len(ids)
            next_pos = torch.tensor([plen + len(ids) for ids in own], dtype=torch.long)
            generated: list[list[int]] = [[] for _ in requests]
            finished = [r.max_new_tokens <= 0 for r in requests]
            generators = [self._generator(r) for r in requests]
            while not all(finished):
                fed: list[list[int]] = []  # per row: the tokens the next forward pass reads
                for i, request in enumerate(requests):
                    if finished[i]:
                        fed.append([])
                        continue
                    row = scores[i:i + 1]
                    if request.processor is not None:
                        row = request.processor(torch.tensor([generated[i]], dtype=torch.long, device=device), row)
                    token = self._choose(row[0], request, generators[i])
                    added, finished[i] = self._extend(request, generated[i], token)
                    fed.append(added)
                    self.forced_tokens += len(added) - 1
                if all(finished):
                    break
                # rows that appended forced tokens feed them all at once; shorter rows are
                # padded on the left (masked out, like a prompt's padding)
                step_width = max(len(f) for f in fed)
                step = torch.full((rows, step_width), self.pad_id, dtype=torch.long)
                step_mask = torch.zeros((rows, step_width), dtype=torch.long)
                step_positions = torch.zeros((rows, step_width), dtype=torch.long)
                for i, tokens in enumerate(fed):
                    if tokens:
                        pad = step_width - len(tokens)
                        step[i, pad:] = torch.tensor(tokens, dtype=torch.long)
                        step_mask[i, pad:] = 1
                        step_positions[i, pad:] = torch.arange(int(next_pos[i]), int(next_pos[i]) + len(tokens))
                        next_pos[i] += len(tokens)
                mask = torch.cat([mask, step_mask], dim=1)
                out = model(input_ids=step.to(device), attention_mask=mask.to(device),
                            position_ids=step_positions.to(device), cache=cache, use_cache=True, logits_to_keep=1)
                cache = out.cache
                scores = out.logits[:, -1, :].float()
        for request, ids in zip(requests, generated):
            request.out = ids

    def _prompt_pass(self, own: Sequence[Sequence[int]], plen: int, layers, width: int):
        """(next-token scores [rows, V], the batch's cache) for rows that each start from the
        shared prefix (``plen`` tokens, per-layer ``layers``; none when ``plen`` is 0) and go on
        with their ``own`` tokens. Each row runs alone, at its own length; its keys and values
        are then placed right-aligned in a ``plen + width`` cache, zeros where a row is padded
        (the attention mask hides them). One row is the plain pass."""
        import torch
        from transformers import DynamicCache

        model, device = self.model, self.model.device
        rows = len(own)
        scores, per_row = [], []
        for ids in own:
            cache = DynamicCache(config=model.config)
            if layers is not None:
                for i, (k, v) in enumerate(layers):
                    cache.update(k, v, i)
            out = model(input_ids=torch.tensor([list(ids)], dtype=torch.long, device=device),
                        position_ids=torch.arange(plen, plen + len(ids), device=device)[None],
                        cache=cache, use_cache=True, logits_to_keep=1)
            scores.append(out.logits[:, -1, :].float())
            per_row.append(out.cache)
        if rows == 1:
            return scores[0], per_row[0]
        batch = DynamicCache(config=model.config)
        for layer in range(len(per_row[0].layers)):
            first = per_row[0].layers[layer]
            shape = (rows, first.keys.shape[1], plen + width, first.keys.shape[3])
            keys = first.keys.new_zeros(shape)
            values = first.values.new_zeros((*shape[:3], first.values.shape[3]))
            keys[:, :, :plen] = first.keys[0, :, :plen]  # the shared prefix, once for every row
            values[:, :, :plen] = first.values[0, :, :plen]
            for i, (ids, c) in enumerate(zip(own, per_row)):
                start = plen + width - len(ids)
                keys[i, :, start:] = c.layers[layer].keys[0, :, plen:]
                values[i, :, start:] = c.layers[layer].values[0, :, plen:]
            batch.update(keys, values, layer)
        return torch.cat(scores, dim=0), batch

    def _extend(self, request: Request, generated: list[int], token: int) -> tuple[list[int], bool]:
        """Append ``token`` to the row's reply, then every token its constraint forces after
        it (``processor.forced``: the grammar leaves one choice, or the action is complete)
        until the row stops or has a choice again; (the tokens appended, whether it stops)."""
        generated.append(token)
        added = [token]
        forced = getattr(request.processor, "forced", None) if self.jump_forward else None
        while not (stops := self._stops(request, generated)) and forced is not None:
            token = forced(generated)
            if token is None:
                break
            generated.append(token)
            added.append(token)
        return added, stops

    @staticmethod
    def _generator(request: Request):
        import torch

        if request.temperature > 0 and request.seed is not None:
            return torch.Generator().manual_seed(int(request.seed))
        return None

    @staticmethod
    def _choose(scores, request: Request, generator) -> int:
        import torch

        if request.temperature <= 0:
            return int(torch.argmax(scores))
        probs = torch.softmax(scores / request.temperature, dim=-1)
        if request.top_p < 1.0:
            ordered, order = torch.sort(probs, descending=True)
            keep = torch.cumsum(ordered, dim=-1) - ordered < request.top_p
            probs = torch.zeros_like(probs).scatter(0, order[keep], ordered[keep])
        return int(torch.multinomial(probs.cpu(), 1, generator=generator))

    def _stops(self, request: Request, generated: list[int]) -> bool:
        if generated[-1] in request.stop_ids or len(generated) >= request.max_new_tokens:
            return True
        if request.one_line:
            return "\n" in self.tokenizer.decode(generated, skip_special_tokens=True).lstrip()
        return False


__all__ = ["DecodeEngine", "PrefixCache", "Request"]
