"""Randomly initialised Llama models with a tokenizer trained on given texts, saved to disk.

For CPU tests (`tiny`) and for throughput benchmarks without downloads (`0.5b`, `1.5b`: the layer
shapes and vocabulary size of Qwen2.5-0.5B/1.5B, so FLOPs and memory match a real model of that
size; the small tokenizer only ever uses the first few hundred vocabulary rows). Saved rather than
kept in memory because TRL's DPOTrainer builds its reference model from the policy's path. The
tokenizer gets a chat template so chat rows and the harness work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int | None = None  # model vocabulary; None: the tokenizer's
    tied: bool = False


SHAPES = {
    "tiny": Shape(hidden=32, layers=1, heads=2, kv_heads=2, intermediate=64),
    "small": Shape(hidden=64, layers=2, heads=2, kv_heads=2, intermediate=128),
    "0.5b": Shape(896, 24, 14, 2, 4864, vocab=151936, tied=True),
    "1.5b": Shape(1536, 28, 12, 2, 8960, vocab=151936, tied=True),
}


def build_random_model(
    out: Path,
    texts: list[str],
    shape: str = "tiny",
    tokenizer_vocab: int = 320,
    dtype: str = "float32",
) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=tokenizer_vocab,
            special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    s = SHAPES[shape]
    config = LlamaConfig(
        vocab_size=s.vocab or len(tokenizer),
        hidden_size=s.hidden,
        intermediate_size=s.intermediate,
        num_hidden_layers=s.layers,
        num_attention_heads=s.heads,
        num_key_value_heads=s.kv_heads,
        max_position_embeddings=4096,
        tie_word_embeddings=s.tied,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(getattr(torch, dtype)).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
