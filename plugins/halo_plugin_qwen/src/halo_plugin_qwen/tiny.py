"""Build a tiny, randomly initialised Qwen2 model with its own tokenizer, fully offline.

Used by the tests (serving, LoRA loading) and by the training pipeline's smoke runs:
the directory it writes loads with ``AutoModelForCausalLM.from_pretrained(out_dir)`` and
``AutoTokenizer.from_pretrained(out_dir)`` like any Hugging Face checkpoint, with a
Qwen-style ChatML chat template, and takes a few seconds on a CPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from halo_plugin_qwen.chat import CHATML_TEMPLATE

#: ChatML specials (as Qwen2.5 names them); ``<|endoftext|>`` doubles as the pad token.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")
PAD_TOKEN = "<|endoftext|>"
EOS_TOKEN = "<|im_end|>"

#: always in the training corpus, so chat markup and actions tokenise into few pieces
_SEED_TEXT = (
    "system\nuser\nassistant\nYou are a web agent completing a task in a browser.\n"
    "click('12') fill('31', 'text') select_option('4', 'Red') send_msg_to_user('Done') report_infeasible('why')\n"
    "go_back() scroll(0, 500) press('2', 'Enter') goto('http://localhost/') noop()\n"
    "Goal: URL: Page Previous actions: Next action: link button textbox heading RootWebArea\n"
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,:;!?'\"()[]{}<>/\\|-_=+*&^%$#@~`\n"
)


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 1024):
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``corpus`` with ChatML specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=max(vocab_size, 256 + len(SPECIAL_TOKENS)),
                                  special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator([_SEED_TEXT, *corpus], trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN,
                                   unk_token=None, bos_token=None, additional_special_tokens=["<|im_start|>"],
                                   model_max_length=32768, padding_side="right", clean_up_tokenization_spaces=False)
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_qwen(out_dir, corpus: list[str], vocab_size: int = 1024, hidden_size: int = 64, layers: int = 2,
                    heads: int = 4, seed: int = 0, *, kv_heads: int | None = None, intermediate_size: int | None = None,
                    max_position_embeddings: int = 32768) -> Path:
    """Write a random-init ``Qwen2ForCausalLM`` and its tokenizer to ``out_dir``; return the path.

    The tokenizer is trained on ``corpus`` (plus a little built-in text covering the
    action syntax); the model is seeded, so the same arguments give the same weights.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    if hidden_size % heads:
        raise ValueError(f"hidden_size={hidden_size} must be a multiple of heads={heads}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(corpus, vocab_size)
    eos_id = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    pad_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=intermediate_size or hidden_size * 3,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads or max(1, heads // 2),
        max_position_embeddings=max_position_embeddings, tie_word_embeddings=True, rope_theta=1_000_000.0,
        bos_token_id=pad_id, eos_token_id=eos_id, pad_token_id=pad_id, use_cache=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=pad_id, eos_token_id=[eos_id, pad_id],
                                               pad_token_id=pad_id, do_sample=False)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "halo_tiny.json").write_text(json.dumps({"vocab_size": len(tokenizer), "hidden_size": hidden_size,
                                                    "layers": layers, "heads": heads, "seed": seed}))
    return out


def make_tiny_lora(base_dir, out_dir, *, r: int = 4, seed: int = 0, random_init: bool = True,
                   target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")) -> Path:
    """Save a PEFT LoRA adapter for the model in ``base_dir`` to ``out_dir`` (with the tokenizer).

    ``random_init`` makes the adapter change the model's outputs (PEFT's default init is
    a no-op until trained). ``adapter_config.json`` names ``base_dir`` as the base.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = Path(out_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(base_dir)
        peft_model = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=list(target_modules),
                                                      init_lora_weights=not random_init, task_type="CAUSAL_LM"))
    peft_model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(out)
    return out


#: SmolLM2's chat template (ChatML with a default system turn), as its GGUF carries it
_SMOL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def write_tiny_gguf(path, *, hidden_size: int = 32, layers: int = 2, heads: int = 4, kv_heads: int = 2,
                    intermediate_size: int = 64, seed: int = 0, name: str = "Tiny Llama") -> Path:
    """Write a random-init llama-architecture GGUF with a small byte-level BPE tokenizer.

    Laid out as llama.cpp writes SmolLM2 (``tokenizer.ggml.model = gpt2``, ChatML specials,
    tied embeddings, float32 tensors), so transformers' GGUF loader reads it like the real
    file; tests use it for ``halo models import-gguf`` without a 98 MB download.
    """
    import numpy as np
    from gguf import GGUFWriter, TokenType
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    alphabet = sorted(bytes_to_unicode().values())
    merges = ["Ġ t", "h e", "Ġt he", "Ġ a", "i n", "e r", "c k", "c l", "cl i", "cli ck", "( '", "' )"]
    tokens = specials + alphabet + [m.replace(" ", "") for m in merges]
    types = [TokenType.CONTROL] * len(specials) + [TokenType.NORMAL] * (len(tokens) - len(specials))
    vocab = len(tokens)
    head_dim = hidden_size // heads
    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(str(out), "llama")
    writer.add_name(name)
    writer.add_context_length(2048)
    writer.add_embedding_length(hidden_size)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types([int(t) for t in types])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template(_SMOL_TEMPLATE)
    writer.add_tensor("token_embd.weight", weight(vocab, hidden_size))
    for i in range(layers):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", 1 + weight(hidden_size))
        writer.add_tensor(f"blk.{i}.attn_q.weight", weight(hidden_size, hidden_size))
        writer.add_tensor(f"blk.{i}.attn_k.weight", weight(kv_heads * head_dim, hidden_size))
        writer.add_tensor(f"blk.{i}.attn_v.weight", weight(kv_heads * head_dim, hidden_size))
        writer.add_tensor(f"blk.{i}.attn_output.weight", weight(hidden_size, hidden_size))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", 1 + weight(hidden_size))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(intermediate_size, hidden_size))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(intermediate_size, hidden_size))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(hidden_size, intermediate_size))
    writer.add_tensor("output_norm.weight", 1 + weight(hidden_size))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
