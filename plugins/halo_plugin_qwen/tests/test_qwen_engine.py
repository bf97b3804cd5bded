"""The decode engine: prefix reuse and batching give what one plain sequence gives; each
row keeps its own constrained decoding; constraints reach the backend as call options."""

from __future__ import annotations

import threading

import halo_plugin_qwen.plugin as qwen_plugin
import pytest
from halo_plugin_qwen.chat import render_chat
from halo_plugin_qwen.constrain import ActionGrammar
from halo_plugin_qwen.engine import DecodeEngine, Request
from halo_plugin_qwen.local import LocalBackend, LocalOptions, prompt_ids, stop_tokens
from halo_plugin_qwen.prompting import fewshot_messages
from halo_plugin_qwen.tiny import build_tiny_qwen

from halo_core import hookimpl
from halo_core.actions import parse_action, validate_action
from halo_core.backends import BackendConfigError, BackendSettings, Message
from halo_core.config import mode_config
from halo_core.loop import run_episode
from halo_core.model import Observation, TaskSpec
from halo_core.testing import GraphEnvironment, Page, make_runtime

#: float32 logits of a prompt computed from a reused prefix cache vs in one pass; measured
#: differences are ~1e-6 (the same sums in another order), an action flips only on a near-tie
LOGIT_TOLERANCE = 1e-4

CORPUS = ["Goal: Page: Next action: click('12') fill('3', 'hello world') [12] button 'OK' textbox 'Name'"] * 4
PAGES = ["RootWebArea 'Form'\n  [3] textbox 'Name'\n  [4] button 'Submit'",
         "RootWebArea 'Shop'\n  [12] link 'Cart'\n  [13] textbox 'Search'\n  [14] button 'Go'\n  heading 'Deals'",
         "RootWebArea 'Mail'\n  [7] button 'Compose'",
         "RootWebArea 'Long'\n" + "".join(f"  [{i}] link 'Item {i}'\n" for i in range(20, 34))]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_qwen(tmp_path_factory.mktemp("tiny") / "base", CORPUS, seed=3)


@pytest.fixture(scope="module")
def loaded(tiny):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny).eval(), AutoTokenizer.from_pretrained(tiny)


def observation(page: str) -> Observation:
    return Observation(url="http://localhost/x", title="", text=page, elements=(), page_type="other", fingerprint="")


def prompts(tokenizer):
    """(ids, constant-prefix length) of the few-shot worker prompt on each page."""
    return [prompt_ids(tokenizer, fewshot_messages("Enter 'Bob' and submit.", observation(p), [])) for p in PAGES]


def test_prefix_reuse_gives_the_same_logits_and_replies(loaded):
    import torch

    model, tokenizer = loaded
    ids, constant = prompts(tokenizer)[0]
    assert 0 < constant < len(ids)
    with torch.inference_mode():
        whole = model(input_ids=torch.tensor([ids])).logits[0, -1]
        head = model(input_ids=torch.tensor([ids[:constant]]), use_cache=True)
        rest = model(input_ids=torch.tensor([ids[constant:]]), cache=head.cache).logits[0, -1]
    assert torch.allclose(whole, rest, atol=LOGIT_TOLERANCE, rtol=0)
    stop = tuple(stop_tokens(tokenizer))
    plain, reused = DecodeEngine(model, tokenizer, prefix_reuse=False), DecodeEngine(model, tokenizer)
    for ids, constant in prompts(tokenizer):
        a, b = Request(ids, 24, stop, prefix_len=constant), Request(ids, 24, stop, prefix_len=constant)
        plain.generate([a])
        reused.generate([b])
        assert a.out == b.out
        assert a.computed == len(ids) and b.computed == len(ids) - constant  # only the step's own tokens ran
    assert len(reused.prefixes) == 1  # one constant prefix, computed once


def test_engine_matches_transformers_generate(loaded):
    import torch

    model, tokenizer = loaded
    stop = stop_tokens(tokenizer)
    ids, constant = prompts(tokenizer)[1]
    with torch.inference_mode():
        output = model.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False, eos_token_id=stop,
                                pad_token_id=tokenizer.pad_token_id, attention_mask=torch.ones(1, len(ids),
                                                                                               dtype=torch.long))
    request = Request(ids, 24, tuple(stop), prefix_len=constant)
    DecodeEngine(model, tokenizer).generate([request])
    assert request.out == output[0, len(ids):].tolist()


def test_batched_and_one_at_a_time_greedy_decoding_agree(loaded):
    model, tokenizer = loaded
    stop = tuple(stop_tokens(tokenizer))
    engine = DecodeEngine(model, tokenizer)
    alone = []
    for ids, constant in prompts(tokenizer):
        request = Request(ids, 24, stop, prefix_len=constant)
        engine.generate([request])
        alone.append(request.out)
    for reuse in (True, False):
        engine.prefix_reuse = reuse
        batch = [Request(ids, 24, stop, prefix_len=constant) for ids, constant in prompts(tokenizer)]
        engine.generate(batch)  # prompts of different lengths: padded between prefix and own tokens
        assert [r.out for r in batch] == alone


def test_a_batch_computes_each_prompt_at_its_own_length(loaded):
    """The prompt pass runs each row alone (no padding to the longest row), so a row's first
    scores in a batch are exactly its scores alone, and its cache is the row's own keys and
    values right-aligned after the shared prefix, zeros in the padding."""
    import torch

    model, tokenizer = loaded
    engine = DecodeEngine(model, tokenizer)
    stop = tuple(stop_tokens(tokenizer))
    batch = [Request(ids, 1, stop, prefix_len=constant) for ids, constant in prompts(tokenizer)]
    plen, layers = engine._prefix_for(batch)
    assert plen > 0
    own = [r.ids[plen:] for r in batch]
    width = max(len(o) for o in own)
    assert len({len(o) for o in own}) > 1  # the pages differ in length: rows are padded
    with torch.inference_mode():
        scores, cache = engine._prompt_pass(own, plen, layers, width)
        for i, ids in enumerate(own):
            alone, row_cache = engine._prompt_pass([ids], plen, layers, len(ids))
            assert torch.equal(scores[i], alone[0])
            keys = cache.layers[0].keys[i]
            assert torch.equal(keys[:, plen + width - len(ids):], row_cache.layers[0].keys[0, :, plen:])
            assert not keys[:, plen:plen + width - len(ids)].any()


def test_each_row_of_a_batch_is_constrained_to_its_own_page(loaded):
    model, tokenizer = loaded
    stop = stop_tokens(tokenizer)
    engine = DecodeEngine(model, tokenizer)
    pages = [("3", "4"), ("12", "13", "14"), ("7",), tuple(str(i) for i in range(20, 34))]
    rows = []
    for (ids, constant), bids in zip(prompts(tokenizer), pages):
        options = LocalOptions(constrain_bids=frozenset(bids), constrain_copy=("Bob",) if bids == ("3", "4") else None)
        rows.append(Request(ids, 30, tuple(stop), temperature=1.0, seed=7, prefix_len=constant,
                            processor=options.processor(tokenizer, stop, 30)))
    engine.generate(rows)
    for request, bids in zip(rows, pages):
        text = tokenizer.decode(request.out, skip_special_tokens=True)
        assert ActionGrammar(bids).accepts(text), text
        validate_action(parse_action(text), bids)
    # the same rows alone decode the same (each row samples from its own seeded generator)
    again = []
    for (ids, constant), bids in zip(prompts(tokenizer), pages):
        options = LocalOptions(constrain_bids=frozenset(bids), constrain_copy=("Bob",) if bids == ("3", "4") else None)
        request = Request(ids, 30, tuple(stop), temperature=1.0, seed=7, prefix_len=constant,
                          processor=options.processor(tokenizer, stop, 30))
        engine.generate([request])
        again.append(request.out)
    assert again == [r.out for r in rows]


def test_concurrent_callers_are_batched(loaded):
    model, tokenizer = loaded
    stop = tuple(stop_tokens(tokenizer))
    engine = DecodeEngine(model, tokenizer, gather_s=0.5)
    engine._last_batch = 4  # as after a batch of these four episodes
    requests = [Request(ids, 16, stop, prefix_len=constant) for ids, constant in prompts(tokenizer)]
    threads = [threading.Thread(target=engine.submit, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert engine.batch_sizes and max(engine.batch_sizes) > 1
    alone = []
    for ids, constant in prompts(tokenizer):
        request = Request(ids, 16, stop, prefix_len=constant)
        engine.generate([request])
        alone.append(request.out)
    assert [r.out for r in requests] == alone


class RecordingLocal(LocalBackend):
    """The real ``local:`` backend, recording the call options each request receives."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.received = []

    def _request(self, messages, options):
        self.received.append(options["call"])
        return super()._request(messages, options)


def test_decoding_constraints_reach_the_backend_as_call_options(tiny, tmp_path):
    env = GraphEnvironment({"home": Page("Home", [("link", "Products", "products"), ("button", "Help", "home")]),
                            "products": Page("Products", [])}, goal_page="products")
    task = TaskSpec(id="graph.one", goal="Open the products page", suite="graph")
    backend = RecordingLocal(str(tiny), BackendSettings(max_tokens=24))
    config = mode_config("baseline_worker", max_steps=2, worker_decoding="actions", worker_prompt="fewshot")
    seen = []

    class Pages:
        @hookimpl
        def halo_annotate(self, observation, episode):
            seen.append(frozenset(observation.valid_bids))

    runtime = make_runtime(qwen_plugin, Pages())
    run_episode(task, config, env, runtime, data_dir=tmp_path, backends={"worker": backend})
    first = backend.received[0]
    assert isinstance(first, LocalOptions)
    assert first.one_line is True
    assert len(seen[0]) == 2 and first.constrain_bids == seen[0]  # the page's ids, read at the backend's call
    assert not hasattr(backend, "constrain_bids")  # nothing is set on the shared backend
    free = mode_config("baseline_worker", max_steps=1, worker_decoding="free")
    run_episode(task, free, env, runtime, data_dir=tmp_path, backends={"worker": backend})
    assert backend.received[-1].constrain_bids is None


def test_an_undeclared_option_is_refused(tiny):
    backend = LocalBackend(str(tiny), BackendSettings(max_tokens=4))
    with pytest.raises(BackendConfigError, match="takes no option 'beam_width'"):
        backend.complete([Message("user", "hi")], options={"beam_width": 4})


def test_render_chat_prefix_is_a_token_prefix(loaded):
    _, tokenizer = loaded
    messages = fewshot_messages("Enter 'Bob'.", observation(PAGES[0]), [])
    ids, constant = prompt_ids(tokenizer, messages)
    head = tokenizer(render_chat(tokenizer, messages[:-1], add_generation_prompt=False),
                     add_special_tokens=False)["input_ids"]
    assert constant == len(head) and ids[:constant] == head


def test_forced_tokens_skip_forward_passes_and_change_no_reply(loaded):
    """Tokens a row's constraint forces (a single fitting token, the end of a complete
    action) are appended without a forward pass of their own; greedy replies, alone and
    batched, are the same token for token as decoding every token (up to which of the
    end-of-reply tokens ends them)."""
    model, tokenizer = loaded
    stop = stop_tokens(tokenizer)
    pages = [("3", "4"), ("12", "13", "14"), ("7",), tuple(str(i) for i in range(20, 34))]

    def rows():
        return [Request(ids, 30, tuple(stop), one_line=True, prefix_len=constant,
                        processor=LocalOptions(constrain_bids=frozenset(bids)).processor(tokenizer, stop, 30))
                for (ids, constant), bids in zip(prompts(tokenizer), pages)]

    plain = DecodeEngine(model, tokenizer, jump_forward=False)
    expected = []
    for request in rows():
        plain.generate([request])
        expected.append(request.out)
    assert plain.forced_tokens == 0
    forward = DecodeEngine(model, tokenizer)
    calls = []
    real_forward = model.forward

    def counting(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[1])
        return real_forward(*args, **kwargs)

    model.forward = counting
    try:
        alone = []
        for request in rows():
            forward.generate([request])
            alone.append(request.out)
        passes_alone = len(calls)
        batch = rows()
        forward.generate(batch)  # rows take forced tokens at different steps: padded steps
    finally:
        del model.forward
    def reply(out):  # which end-of-reply token ends it is the one thing a forced end may change
        assert out[-1] in stop
        return out[:-1]

    assert [reply(o) for o in alone] == [reply(o) for o in expected]
    assert [reply(r.out) for r in batch] == [reply(o) for o in expected]
    # every reply ends with a forced end of reply, and page ("7",) forces its id after the quote
    assert forward.forced_tokens >= 2 * len(pages) + 2
    # one pass per token that was not forced (the prompt's pass gives the first), and one
    # for the constant prefix, computed once and reused
    assert passes_alone == sum(len(out) for out in expected) - forward.forced_tokens // 2 + 1
    assert any(width > 1 for width in calls[passes_alone + 1:])


def test_the_constraint_forces_only_where_one_token_fits(loaded):
    from halo_plugin_qwen.constrain import ActionConstraint

    _, tokenizer = loaded
    stop = stop_tokens(tokenizer)
    constraint = ActionConstraint(tokenizer, ["7"], prompt_len=0, eos_ids=stop)
    assert constraint.forced([]) is None  # any action name may start the reply
    ids = tokenizer("click('", add_special_tokens=False)["input_ids"]
    seven = constraint.forced(ids)
    assert seven is not None and tokenizer.decode([seven]).startswith("7")
    done = tokenizer("click('7')", add_special_tokens=False)["input_ids"]
    assert constraint.forced(done) in stop
