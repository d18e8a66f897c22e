"""The hf backend's continuous batching on the embedded model: the same completions as plain
batch-size-1 greedy decoding, reported one by one as they end, cached and resumed as before; the
key/value slots grow keeping what they hold."""

from __future__ import annotations

import json

import pytest

from harness.backends import SamplingParams, fingerprint_for, make_backend
from harness.backends.hf import _Slots, render_prompt
from harness.registry import resolve_model
from harness.runner import CachedGenerator
from harness.store import Store

EARLY = "Reply with just the word yes."  # ends with EOS after a few tokens


@pytest.fixture(scope="module")
def smol(embedded_model_dir):
    """Three rows at a time, so rows leave and join the batch mid-way."""
    return make_backend(resolve_model("smollm2-135m-instruct"), "hf", batch_size=3)


@pytest.fixture(scope="module")
def conversations(data_dir):
    """Real IFEval prompts of different lengths, with one that ends early among them."""
    rows = [json.loads(line) for line in (data_dir / "ifeval" / "input_data.jsonl").open()]
    rows.sort(key=lambda r: len(r["prompt"]))
    picked = [rows[0]["prompt"], rows[200]["prompt"], EARLY, rows[400]["prompt"]]
    picked += [rows[100]["prompt"], rows[300]["prompt"]]
    return [[{"role": "user", "content": p}] for p in picked]


def plain_greedy(backend, conversation, max_new_tokens):
    """`model.generate` on one prompt, no padding: the reference decoding."""
    import torch

    prompt = render_prompt(backend.tokenizer, backend.spec, conversation)
    enc = backend.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        out = backend.model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=backend.tokenizer.pad_token_id,
        )
    ids = out[0, enc.input_ids.shape[1] :].tolist()
    eos = backend._eos_ids()
    n = next((k + 1 for k, t in enumerate(ids) if t in eos), len(ids))
    return backend.tokenizer.decode(ids[:n], skip_special_tokens=True), n


def test_continuous_equals_batch_size_one_greedy(smol, conversations):
    assert smol._continuous_ok(), "the embedded model takes the continuous path"
    out = smol.generate(conversations, SamplingParams(max_new_tokens=24))
    for conversation, c in zip(conversations, out, strict=True):
        text, n = plain_greedy(smol, conversation, 24)
        assert (c.text, c.completion_tokens) == (text, n)
        assert c.finish_reason == ("length" if n == 24 else "stop")
        assert c.prompt_tokens > 0
    early = out[2]
    assert early.finish_reason == "stop" and early.completion_tokens < 24
    assert smol.model.config._attn_implementation == "sdpa", "restored after the decode"


def test_on_result_once_per_conversation_as_each_ends(smol, conversations, monkeypatch):
    """Each conversation is reported once, the step it ends: the first report comes while
    other rows are still decoding (model calls follow it), and it is a row that ended before
    the token limit."""
    forward = smol.model.forward
    steps = [0]

    def counting(*args, **kwargs):
        steps[0] += 1
        return forward(*args, **kwargs)

    monkeypatch.setattr(smol.model, "forward", counting)
    seen: list[tuple[int, int, int]] = []
    out = smol.generate(
        conversations,
        SamplingParams(max_new_tokens=24),
        lambda i, c: seen.append((i, c.completion_tokens, steps[0])),
    )
    assert sorted(i for i, _, _ in seen) == list(range(len(conversations)))
    assert [out[i].completion_tokens for i, _, _ in seen] == [n for _, n, _ in seen]
    assert seen[0][1] < 24 and seen[0][2] < steps[0], "reported as it ended, mid-generation"
    assert [at for _, _, at in seen] == sorted(at for _, _, at in seen)


def test_stop_strings_on_the_continuous_path(smol, conversations):
    plain = smol.generate(conversations[1:2], SamplingParams(max_new_tokens=16))[0]
    words = plain.text.split()
    word = words[len(words) // 2]
    stopped = smol.generate(conversations[1:4], SamplingParams(max_new_tokens=16, stop=(word,)))[0]
    assert stopped.text == plain.text[: plain.text.find(word)]
    assert stopped.finish_reason == "stop" and stopped.completion_tokens < 16


def test_sampling_with_a_seed_repeats(smol, conversations):
    params = SamplingParams(max_new_tokens=8, temperature=0.8, top_p=0.95, seed=3)
    first = smol.generate(conversations[:2], params)
    again = smol.generate(conversations[:2], params)
    assert [c.text for c in first] == [c.text for c in again]


def test_cached_and_resumed_through_the_store(tmp_path, smol, conversations):
    """Half generated, then all asked: only the missing half reaches the model; a third call
    makes no model call at all and builds no backend."""
    spec = resolve_model("smollm2-135m-instruct")
    fp = fingerprint_for(spec, "hf")
    params = SamplingParams(max_new_tokens=12)
    calls: list[int] = []
    built: list[int] = []

    class Counting:
        def generate(self, convs, p, on_result=None):
            calls.append(len(convs))
            return smol.generate(convs, p, on_result)

        def close(self):
            pass

    def build():
        built.append(1)
        return Counting()

    store = Store(tmp_path / "s.sqlite")
    half = CachedGenerator(store, fp, "ifeval@test", build, progress=False)(
        conversations[:3], params
    )
    assert calls == [3]
    full = CachedGenerator(store, fp, "ifeval@test", build, progress=False)(conversations, params)
    assert calls == [3, 3]
    assert [c.text for c in full[:3]] == [c.text for c in half]
    built.clear()
    again = CachedGenerator(store, fp, "ifeval@test", build, progress=False)(conversations, params)
    assert calls == [3, 3] and not built
    assert [c.text for c in again] == [c.text for c in full]


def test_slots_grow_keeping_what_they_hold():
    """Capacity doubles (up to the longest a row can get) when a row outgrows it; what the slots
    hold stays, and a step writes each row's new key and value at its own position."""
    import types

    import torch

    config = types.SimpleNamespace(
        num_key_value_heads=1, num_attention_heads=2, head_dim=4, hidden_size=8, num_hidden_layers=2
    )
    kv = _Slots(config, slots=2, capacity=4, dtype=torch.float32, device="cpu")
    keys = [torch.randn(1, 1, 3, 4) for _ in range(2)]
    values = [torch.randn(1, 1, 3, 4) for _ in range(2)]
    layers = [types.SimpleNamespace(keys=k, values=v) for k, v in zip(keys, values, strict=True)]
    kv.store(1, types.SimpleNamespace(layers=layers))
    kv.fit(4, most=100)
    assert kv.k[0].shape[2] == 4
    kv.fit(5, most=100)
    assert kv.k[0].shape[2] == 8
    kv.fit(20, most=12)
    assert kv.k[1].shape[2] == 12
    for layer in range(2):
        assert torch.equal(kv.k[layer][1, :, :3], keys[layer][0])
        assert torch.equal(kv.v[layer][1, :, :3], values[layer][0])
    new_key, new_value = torch.randn(1, 1, 1, 4), torch.randn(1, 1, 1, 4)
    query = torch.randn(1, 2, 1, 4)
    out = kv.step([(1, 3)]).attend(0, query, new_key, new_value, 0.5)
    assert torch.equal(kv.k[0][1, :, 3], new_key[0, :, 0])
    full_k = torch.cat([keys[0], new_key], dim=2)
    full_v = torch.cat([values[0], new_value], dim=2)
    expected = torch.nn.functional.scaled_dot_product_attention(
        query, full_k, full_v, scale=0.5, enable_gqa=True
    )
    assert out.shape == (1, 1, 2, 4)
    assert torch.allclose(out, expected.transpose(1, 2))


def test_a_layer_that_drops_the_rows_falls_back_to_static_batches(smol, conversations, monkeypatch):
    """The continuous path needs every layer's attention to see a decode step's rows: a model whose
    forward drops them (here one layer) is found by the one-step probe and decoded in static
    batches instead, with the same completions."""
    attention = smol.model.model.layers[1].self_attn
    forward = attention.forward

    def dropping(*args, rows=None, **kwargs):
        return forward(*args, **kwargs)

    assert smol._rows_reach_attention()
    monkeypatch.setattr(attention, "forward", dropping)
    monkeypatch.setattr(smol, "_continuous", None)
    assert not smol._continuous_ok()
    params = SamplingParams(temperature=0.0, max_new_tokens=12)
    static = smol.generate(conversations[:3], params)
    assert [c.text for c in static] == [plain_greedy(smol, c, 12)[0] for c in conversations[:3]]


def test_rows_may_run_past_the_models_context_as_plain_greedy_does(
    smol, conversations, monkeypatch
):
    """A request's max_new_tokens may take a row past max_position_embeddings (model.generate
    goes on, with a warning): the key/value slots grow to what the rows need, not to the context."""
    monkeypatch.setattr(smol.model.config, "max_position_embeddings", 80)
    prompts = [conversations[0], conversations[4]]  # 42 and 64 prompt tokens
    out = smol.generate(prompts, SamplingParams(max_new_tokens=48))
    assert any(c.prompt_tokens + c.completion_tokens > 80 for c in out)
    for conversation, c in zip(prompts, out, strict=True):
        assert c.text == plain_greedy(smol, conversation, 48)[0]


def test_keys_the_slots_cannot_hold_fall_back_to_static_batches(smol, monkeypatch):
    """A model whose keys and values have other shapes than the config's heads say (as in
    multi-head latent attention) fails the probe instead of failing mid-run."""
    monkeypatch.setattr(smol.model.config, "head_dim", 32, raising=False)
    monkeypatch.setattr(smol, "_continuous", None)
    assert not smol._continuous_ok()
    assert smol.model.config._attn_implementation == "sdpa", "restored after the probe"
