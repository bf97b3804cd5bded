"""Decoding constrained to one well-formed action on the current page.

A small model's reply is often almost an action: ``click('12'`` cut short, a bid that is
not on the page, prose after the call. With ``worker_decoding=actions`` the local backend
masks, at every generated token, each token that would make the reply stop being a
prefix of a valid action, and allows the end-of-reply token only once the action is
complete. So what the model writes is always one call of :data:`ACTION_SIGNATURES` (a
click without its optional mouse button), in its canonical form, whose element ids are ids of the current observation; what it means
(which element, what text) is still the model's choice, and the browser can still refuse
it (``fill`` on a button): "valid action rate" keeps counting such errors.

The grammar, character by character::

    action := name "(" [arg ("," " "? arg)*] ")"
    arg    := quote bid quote          (an id of the observation; ' or ")
            | quote char* quote        (no quote of that kind, no backslash, no control character)
            | "-"? digits ("." digits)?   (no leading zero; at most 6 + 3 digits)

With references on (:mod:`halo_plugin_qwen.references`), an element argument may also be
``*k`` for a mark ``k`` of the page and a text argument ``$k`` for a goal value ``k``::

    arg   |= "*" mark | "$" value      (only the numbers the prompt defines)

With ``worker_decoding=copy`` the text of a ``fill`` must moreover be a non-empty piece of
the goal (typed text copied from the instruction, as most web tasks ask): a model then only
chooses where that piece starts and ends.

Near the end of the token budget (``max_new_tokens``), an open string may only be
closed and a call whose arguments are complete only ended, so a talkative model's reply
still ends as an action instead of being cut mid-string.

Tokens are checked by running their text through the automaton; per state, the allowed
token set is computed once (tokens of a string's body are pre-sorted, so a string costs
a few hundred checks, not one per vocabulary entry). Tokens whose text is not whole
characters (a byte-level piece of a multi-byte character) are never allowed.
"""

from __future__ import annotations

import weakref
from typing import Iterable

from halo_core.api import ACTION_SIGNATURES

DECODING_STYLES = ("auto", "free", "actions", "copy")
#: actions whose text argument ``copy`` decoding takes from the goal
COPY_ACTIONS = frozenset({"fill"})
_QUOTES = "'\""
_DIGITS = "0123456789"
#: digits of a number argument before and after the point
_MAX_WHOLE, _MAX_FRACTION = 6, 3
#: tokens left at which a string being written is closed (so the action can still end)
_CLOSING_RESERVE = 4

State = tuple


def _breaks_string(ch: str) -> bool:
    """A character no string argument may hold: a backslash or a control character."""
    return ch == "\\" or ch < " " or ch == "\x7f"


#: the signatures the grammar writes: a click's optional mouse button (which the browser
#: checks against three names) is left out, so a model cannot put text there
GRAMMAR_SIGNATURES = {**ACTION_SIGNATURES, "click": ("bid",), "dblclick": ("bid",),
                      **{name: ("num", "num") for name in ("mouse_click", "mouse_dblclick", "mouse_down", "mouse_up")}}


class ActionGrammar:
    """Prefix automaton of one action whose element ids are ``bids``."""

    def __init__(self, bids: Iterable[str], signatures: dict[str, tuple[str, ...]] | None = None,
                 copy_from: Iterable[str] | None = None, refs=None) -> None:
        self.signatures = dict(signatures or GRAMMAR_SIGNATURES)
        #: references the prompt defines: ``{"*": marks, "$": values}`` (their numbers, as text)
        self.refs = {"*": frozenset(refs.marks), "$": frozenset(refs.values)} if refs else {"*": frozenset(),
                                                                                             "$": frozenset()}
        self._ref_prefixes = {s: {k[:j] for k in keys for j in range(1, len(k) + 1)} for s, keys in self.refs.items()}
        #: with ``copy_from``, the text a :data:`COPY_ACTIONS` call types is a non-empty piece of
        #: one of these texts (the goal): ``("copy", name, i, quote, typed so far)`` states
        self.copy_from = "\x00".join(copy_from) if copy_from is not None else None
        self.bids = frozenset(str(b) for b in bids)
        self._bid_prefixes = {b[:k] for b in self.bids for k in range(len(b) + 1)}
        self._name_prefixes = {n[:k] for n in self.signatures for k in range(len(n) + 1)}
        self._required = {n: sum(1 for k in kinds if not k.endswith("*")) for n, kinds in self.signatures.items()}

    def start(self) -> State:
        return ("name", "")

    @staticmethod
    def is_complete(state: State | None) -> bool:
        return state is not None and state[0] == "done"

    def _kind(self, name: str, i: int) -> str:
        return self.signatures[name][i].rstrip("*")

    def step(self, state: State | None, ch: str) -> State | None:
        """The state after ``ch``, or None when ``ch`` cannot follow."""
        if state is None:
            return None
        tag = state[0]
        if tag == "copy":
            _, name, i, quote, typed = state
            if ch == quote:
                return ("after", name, i) if typed else None
            grown = typed + ch
            if _breaks_string(ch) or grown not in self.copy_from:
                return None
            return ("copy", name, i, quote, grown)
        if tag == "str":
            _, name, i, quote = state
            if ch == quote:
                return ("after", name, i)
            return None if _breaks_string(ch) else state
        if tag == "name":
            prefix = state[1]
            if ch == "(" and prefix in self.signatures:
                return ("after", prefix, -1) if self._optional_from(prefix, 0) else ("arg", prefix, 0)
            grown = prefix + ch
            return ("name", grown) if grown in self._name_prefixes else None
        if tag == "arg":
            return self._arg_start(state[1], state[2], ch)
        if tag == "bid":
            _, name, i, quote, prefix = state
            if ch == quote:
                return ("after", name, i) if prefix in self.bids else None
            grown = prefix + ch
            return ("bid", name, i, quote, grown) if grown in self._bid_prefixes else None
        if tag == "ref":
            _, name, i, sigil, digits = state
            if ch in ",)" and digits in self.refs[sigil]:
                return self.step(("after", name, i), ch)
            grown = digits + ch
            return ("ref", name, i, sigil, grown) if grown in self._ref_prefixes[sigil] else None
        if tag == "num":
            _, name, i, text = state
            whole, dot, fraction = text.lstrip("-").partition(".")
            if ch in _DIGITS:
                if dot:
                    return ("num", name, i, text + ch) if len(fraction) < _MAX_FRACTION else None
                if whole == "0" or len(whole) >= _MAX_WHOLE:
                    return None  # no leading zeros (Python refuses them), no absurd sizes
                return ("num", name, i, text + ch)
            if ch == "." and not dot and whole:
                return ("num", name, i, text + ch)
            if ch in ",)" and text.lstrip("-") and not text.endswith("."):
                return self.step(("after", name, i), ch)
            return None
        if tag == "after":
            _, name, i = state
            kinds = self.signatures[name]
            if ch == ")":
                return ("done",) if i + 1 >= self._required[name] else None
            if ch == "," and i + 1 < len(kinds) and i >= 0:
                return ("sep", name, i + 1)
            if i < 0 and kinds:  # right after "(" of a call whose arguments are all optional
                return self._arg_start(name, 0, ch)
            return None
        if tag == "sep":
            _, name, i = state
            if ch == " ":
                return ("arg", name, i)
            return self._arg_start(name, i, ch)
        return None  # "done": nothing may follow

    def _optional_from(self, name: str, i: int) -> bool:
        return i >= self._required[name]

    def _arg_start(self, name: str, i: int, ch: str) -> State | None:
        kind = self._kind(name, i)
        if kind == "num":
            return ("num", name, i, ch) if ch in _DIGITS or ch == "-" else None
        if ch == "*" and kind == "bid" and self.refs["*"]:
            return ("ref", name, i, "*", "")
        if ch == "$" and kind == "str" and self.refs["$"]:
            return ("ref", name, i, "$", "")
        if ch not in _QUOTES:
            return None
        if kind == "bid":
            return ("bid", name, i, ch, "")
        if self.copy_from is not None and name in COPY_ACTIONS:
            return ("copy", name, i, ch, "")
        return ("str", name, i, ch)

    def run(self, state: State | None, text: str) -> State | None:
        for ch in text:
            state = self.step(state, ch)
            if state is None:
                return None
        return state

    def accepts(self, text: str) -> bool:
        return self.is_complete(self.run(self.start(), text))


class TokenTable:
    """A tokenizer's vocabulary as text, indexed for :class:`ActionConstraint`."""

    def __init__(self, tokenizer) -> None:
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        try:  # chat markup and other added tokens (<think>, <|im_start|>) are never action text
            special |= set(tokenizer.get_added_vocab().values())
        except (AttributeError, NotImplementedError):
            pass
        size = len(tokenizer)
        tokens = tokenizer.convert_ids_to_tokens(list(range(size)))
        self.text: list[str | None] = []
        for tid, tok in enumerate(tokens):
            text = None
            if tok is not None and tid not in special:
                text = tokenizer.convert_tokens_to_string([tok])
                if tok.startswith("\u2581") and not text.startswith(" "):  # sentencepiece word start
                    text = " " + text
                if not text or "\ufffd" in text:
                    text = None
            self.text.append(text)
        self.size = size
        self.by_first: dict[str, list[int]] = {}
        self.plain: list[int] = []  # whole characters, none that can end or break a string
        self.quoted: list[int] = []  # tokens holding a quote (they may close a string)
        for tid, text in enumerate(self.text):
            if text is None:
                continue
            self.by_first.setdefault(text[0], []).append(tid)
            if any(_breaks_string(c) for c in text):
                continue  # never inside a string; elsewhere only the grammar's own characters count
            if "'" in text or '"' in text:
                self.quoted.append(tid)
            else:
                self.plain.append(tid)


_TABLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def token_table(tokenizer) -> TokenTable:
    """One :class:`TokenTable` per tokenizer object (building it decodes the vocabulary once)."""
    try:
        table = _TABLES.get(tokenizer)
    except TypeError:  # not weak-referenceable
        return TokenTable(tokenizer)
    if table is None:
        table = _TABLES[tokenizer] = TokenTable(tokenizer)
    return table


class ActionConstraint:
    """A transformers logits processor: only tokens that keep the reply a prefix of a valid
    action; end-of-reply tokens only after a complete one.

    ``prompt_len`` is the prompt's length in tokens (generation starts after it). Rows of a
    batch are followed separately. A row whose reply can no longer become an action (it
    cannot happen through this processor, but a caller may force tokens) is left free.
    """

    def __init__(self, tokenizer, bids: Iterable[str], prompt_len: int, eos_ids: Iterable[int],
                 max_new_tokens: int | None = None, copy_from: Iterable[str] | None = None, refs=None) -> None:
        self.table = token_table(tokenizer)
        self.max_new_tokens = max_new_tokens
        self.grammar = ActionGrammar(bids, copy_from=copy_from, refs=refs)
        self.prompt_len = prompt_len
        self.eos_ids = [int(e) for e in eos_ids if e is not None and 0 <= int(e)]
        eos = getattr(tokenizer, "eos_token_id", None)
        #: the token :meth:`forced` ends a complete action with: the tokenizer's own end of
        #: sequence when it is a stop token (what a chat model writes there), else the first
        self.end_id = eos if eos in self.eos_ids else (self.eos_ids[0] if self.eos_ids else None)
        self._states: list[State | None] = []
        self._seen: list[int] = []  # per row: generated tokens already run through the grammar
        self._allowed: dict[State, list[int]] = {}
        self._masks: dict[tuple[bool, State], object] = {}

    def allowed(self, state: State) -> list[int]:
        """Token ids that may come next in ``state``."""
        cached = self._allowed.get(state)
        if cached is not None:
            return cached
        grammar, table = self.grammar, self.table
        if grammar.is_complete(state):
            ids = list(self.eos_ids)
        elif state[0] == "str":
            ids = list(table.plain)
            ids += [t for t in table.quoted if grammar.run(state, table.text[t]) is not None]
        elif state[0] == "copy":  # a plain token fits when the text typed with it is still a piece of the goal
            typed, source = state[4], grammar.copy_from
            ids = [t for t in table.plain if typed + table.text[t] in source]
            ids += [t for t in table.quoted if grammar.run(state, table.text[t]) is not None]
        else:
            ids = []
            for first, candidates in table.by_first.items():
                if grammar.step(state, first) is None:
                    continue
                ids += [t for t in candidates if grammar.run(state, table.text[t]) is not None]
        self._allowed[state] = ids
        return ids

    def closing(self, state: State) -> list[int]:
        """The allowed tokens that end the action, else those that close an open string,
        else all allowed tokens: what may come when few tokens are left."""
        ids = self.allowed(state)
        after = {t: self.grammar.run(state, self.table.text[t]) for t in ids if self.table.text[t] is not None}
        ending = [t for t in ids if t in self.eos_ids or self.grammar.is_complete(after.get(t))]
        if ending:
            return ending
        if state[0] in ("str", "copy"):
            closed = [t for t, s in after.items() if s is not None and s[0] != state[0]]
            if closed:
                return closed
        return ids

    def _mask(self, state: State, scores, closing: bool = False):
        import torch

        key = (closing, state)
        mask = self._masks.get(key)
        if mask is None or mask.device != scores.device or mask.shape[-1] != scores.shape[-1]:
            ids = [i for i in (self.closing(state) if closing else self.allowed(state)) if i < scores.shape[-1]]
            mask = torch.full((scores.shape[-1],), float("-inf"), dtype=scores.dtype, device=scores.device)
            if ids:
                mask[torch.tensor(ids, device=scores.device)] = 0.0
            self._masks[key] = mask
        return mask

    def _advance(self, row: int, generated) -> State | None:
        """Row ``row``'s state after ``generated`` (its reply so far): the tokens not yet seen
        are run through the grammar, however many were added since the last call."""
        while len(self._states) <= row:
            self._states.append(self.grammar.start())
            self._seen.append(0)
        state = self._states[row]
        for token in generated[self._seen[row]:]:
            if state is None:
                break
            token = int(token)
            text = self.table.text[token] if token < self.table.size else None
            state = None if text is None else self.grammar.run(state, text)
        self._states[row], self._seen[row] = state, len(generated)
        return state

    def _closing(self, generated: int) -> bool:
        return self.max_new_tokens is not None and self.max_new_tokens - generated <= _CLOSING_RESERVE

    def __call__(self, input_ids, scores):
        for row in range(input_ids.shape[0]):
            generated = input_ids[row, self.prompt_len:].tolist()
            state = self._advance(row, generated)
            if state is None:
                continue
            scores[row] = scores[row] + self._mask(state, scores, self._closing(len(generated)))
        return scores

    def forced(self, generated) -> int | None:
        """The token that must follow ``generated`` (the reply so far of this processor's only
        row), when the model has no choice: the one token the grammar allows there, or
        :attr:`end_id` once the action is complete (only end-of-reply tokens may follow);
        None when several tokens may come. A decoder appends it without a forward pass:
        greedy or sampled, the constrained model could write nothing else (up to which of
        several end-of-reply tokens ends the reply)."""
        state = self._advance(0, generated)
        if state is None:
            return None
        if self.grammar.is_complete(state):
            return self.end_id
        ids = self.closing(state) if self._closing(len(generated)) else self.allowed(state)
        return ids[0] if len(ids) == 1 else None

