"""transformers backend: batched generation, CPU or GPU.

Greedy decoding uses continuous batching (`_generate_continuous`): up to `batch_size` rows decode
together and a finished row's place goes to the next prompt at once, so no step is spent on rows
that have ended. Each prompt is prefilled on its own (no padding) into a slot of preallocated
key/value buffers, and each row attends over its own tokens only, so no step reads padding and no
cache is copied when rows join or leave. Sampling, and models whose greedy decoding is more than
an argmax over a plain KV cache with sdpa attention, use static length-sorted, left-padded
batches through `model.generate`.

torch and transformers are imported when the backend is built, so finding the backend is cheap."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from harness.backends.base import Backend, Completion, Conversation, OnResult, SamplingParams
from harness.backends.table import BackendSpec, Option, register
from harness.backends.weights import local_path, weights_identity
from harness.registry import ModelSpec
from harness.validate import POSITIVE


def render_prompt(tokenizer, spec: ModelSpec, conversation: Conversation) -> str:
    """Apply the model's chat template (or none), adding the registry's system prompt if set."""
    if spec.system_prompt and conversation[0]["role"] != "system":
        conversation = [{"role": "system", "content": spec.system_prompt}, *conversation]
    if (
        spec.chat_template == "none"
        or tokenizer.chat_template is None
        and spec.chat_template == "auto"
    ):
        return "\n\n".join(m["content"] for m in conversation)
    template = None if spec.chat_template == "auto" else spec.chat_template
    return tokenizer.apply_chat_template(
        conversation, tokenize=False, add_generation_prompt=True, chat_template=template
    )


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Truncate at the first stop string; whether one was found."""
    cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


ROWS_ATTENTION = "harness_rows_sdpa"


def _rows_attention() -> str:
    """Register (once) an attention implementation that is sdpa, except in a decode step of the
    continuous batch (`rows=` a `_Slots` passed through the model's forward): there each row
    writes its new key and value into its slot and attends over exactly its own tokens, so no
    step reads padding and no cache is copied when rows join or leave."""
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if ROWS_ATTENTION not in AttentionInterface._global_mapping:

        def attention(module, query, key, value, attention_mask, rows=None, **kwargs):
            if rows is None:
                return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
            return rows.attend(module.layer_idx, query, key, value, kwargs.get("scaling")), None

        AttentionInterface.register(ROWS_ATTENTION, attention)
        AttentionMaskInterface.register(ROWS_ATTENTION, sdpa_mask)
    return ROWS_ATTENTION


@contextmanager
def _rows_attention_on(model) -> Iterator[None]:
    """The model attends through `_rows_attention` inside, and as before after."""
    before = model.config._attn_implementation
    model.set_attn_implementation(_rows_attention())
    try:
        yield
    finally:
        model.set_attn_implementation(before)


class _Slots:
    """Keys and values of the continuous batch: per layer one buffer [slots, kv heads, capacity,
    head dim], a sequence's tokens from column 0 of its slot. A prompt's prefill is copied into
    a free slot; each decode step writes one column per row in place."""

    def __init__(self, config, slots: int, capacity: int, dtype, device):
        import torch

        heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        shape = (slots, heads, capacity, dim)
        layers = config.num_hidden_layers
        self.k = [torch.empty(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.v = [torch.empty(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.device = device
        self.rows: list[tuple[int, int]] = []
        self.attended = 0  # attention layers the current step went through

    def fit(self, length: int, most: int) -> None:
        """Room for `length` tokens per slot: double the capacity (at most `most`, the longest a
        row can get) when short."""
        capacity = self.k[0].shape[2]
        if length <= capacity:
            return
        grown = min(most, max(length, 2 * capacity))
        for buffers in (self.k, self.v):
            for j, old in enumerate(buffers):
                new = old.new_empty(old.shape[0], old.shape[1], grown, old.shape[3])
                new[:, :, :capacity] = old
                buffers[j] = new

    def store(self, slot: int, cache) -> None:
        """Copy a prefilled prompt's keys and values (a batch-of-one cache) into `slot`."""
        for k, v, layer in zip(self.k, self.v, cache.layers, strict=True):
            length = layer.keys.shape[-2]
            k[slot, :, :length] = layer.keys[0]
            v[slot, :, :length] = layer.values[0]

    def step(self, rows: list[tuple[int, int]]) -> _Slots:
        """Set the next decode step's rows: (slot, position of the new token) each."""
        import torch

        self.rows, self.attended = rows, 0
        self.slot_index = torch.tensor([s for s, _ in rows], device=self.device)
        self.position_index = torch.tensor([p for _, p in rows], device=self.device)
        return self

    def attend(self, layer: int, query, key, value, scale):
        """One decode step of one layer: store each row's new key and value at its position,
        then sdpa per row over its own columns (the batch-of-one call plain greedy decoding
        makes). query [rows, heads, 1, dim] -> [rows, 1, heads, dim]."""
        import torch
        import torch.nn.functional as F

        self.attended += 1
        k, v = self.k[layer], self.v[layer]
        k[self.slot_index, :, self.position_index] = key[:, :, 0]
        v[self.slot_index, :, self.position_index] = value[:, :, 0]
        out = [
            F.scaled_dot_product_attention(
                query[r : r + 1],
                k[s : s + 1, :, : p + 1],
                v[s : s + 1, :, : p + 1],
                scale=scale,
                enable_gqa=True,
            )
            for r, (s, p) in enumerate(self.rows)
        ]
        return torch.cat(out).transpose(1, 2)


class _Row:
    """One sequence of the continuous batch: which conversation, its slot, its tokens so far."""

    __slots__ = ("index", "prompt_tokens", "limit", "slot", "ids")

    def __init__(self, index: int, prompt_tokens: int, limit: int, slot: int):
        self.index, self.prompt_tokens, self.limit, self.slot = index, prompt_tokens, limit, slot
        self.ids: list[int] = []

    @property
    def position(self) -> int:
        """Position of the newest token, the next input."""
        return self.prompt_tokens + len(self.ids) - 1

    def done_with(self, token: int, eos: set[int], stop: Sequence[str], tokenizer) -> bool:
        """Add the newest token; whether the sequence has ended (EOS, stop string or length)."""
        self.ids.append(token)
        if token in eos or len(self.ids) >= self.limit:
            return True
        return bool(stop) and any(
            s in tokenizer.decode(self.ids, skip_special_tokens=True) for s in stop
        )


class HFBackend(Backend):
    name = "hf"

    def __init__(self, spec: ModelSpec, batch_size: int, device: str | None, dtype: str):
        import inspect

        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.spec = spec
        self.batch_size = batch_size
        path = local_path(spec)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        kwargs = {"revision": spec.revision, "trust_remote_code": spec.trust_remote_code}
        self.tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch_dtype = (
            dtype
            if dtype != "auto"
            else (torch.bfloat16 if self.device == "cuda" else torch.float32)
        )
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, **kwargs)
        self.model.to(self.device).eval()
        self._continuous: bool | None = None
        # the forward's cache argument: `cache` from transformers 5.20, `past_key_values` before
        # (vLLM's builds pin transformers below 5.20)
        forward = inspect.signature(self.model.forward).parameters
        self._cache_keyword = next((k for k in ("cache", "past_key_values") if k in forward), None)

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams,
        on_result: OnResult | None = None,
    ) -> list[Completion]:
        import torch

        with torch.inference_mode():
            return self._generate(conversations, params, on_result)

    def _generate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams,
        on_result: OnResult | None,
    ) -> list[Completion]:
        prompts = [render_prompt(self.tokenizer, self.spec, c) for c in conversations]
        tokens = [self.tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
        order = sorted(
            range(len(prompts)), key=lambda i: -len(tokens[i])
        )  # similar lengths together
        results: list[Completion | None] = [None] * len(prompts)

        def report(i: int, completion: Completion) -> None:
            results[i] = completion
            if on_result:
                on_result(i, completion)

        if params.temperature <= 0 and self._continuous_ok():
            self._generate_continuous([(i, tokens[i]) for i in order], params, report)
        else:
            self._generate_static([prompts[i] for i in order], order, params, report)
        return results  # type: ignore[return-value]

    def _generate_static(
        self, prompts: list[str], ids: list[int], params: SamplingParams, report: OnResult
    ) -> None:
        """Static batches of `batch_size` through `model.generate` (sampling, and models the
        continuous path does not handle): each batch runs until its longest row ends."""
        for start in range(0, len(prompts), self.batch_size):
            batch = ids[start : start + self.batch_size]
            self._generate_batch(
                prompts[start : start + self.batch_size],
                params,
                lambda j, c, b=batch: report(b[j], c),
            )

    def _continuous_ok(self) -> bool:
        """Whether greedy decoding here is plain argmax over a full-attention DynamicCache, which
        the continuous path reproduces: no logits processors from the generation config, no
        sliding-window or other special cache layers, a forward that takes a cache."""
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        if self._continuous is None:
            gc, config = self.model.generation_config, self.model.config
            processors = (
                (gc.repetition_penalty or 1.0) != 1.0
                or gc.no_repeat_ngram_size
                or gc.bad_words_ids
                or gc.min_length
                or gc.min_new_tokens
                or gc.forced_bos_token_id is not None
                or gc.forced_eos_token_id is not None
                or gc.suppress_tokens
                or gc.begin_suppress_tokens
                or gc.sequence_bias
                or gc.exponential_decay_length_penalty
                or getattr(gc, "guidance_scale", None) not in (None, 1.0)
                or getattr(gc, "watermarking_config", None)
                or (gc.num_beams or 1) > 1
            )
            layers = DynamicCache(config=config).layers
            self._continuous = bool(
                not processors
                and config._attn_implementation == "sdpa"
                and not getattr(config, "is_encoder_decoder", False)
                and all(type(layer) is DynamicLayer for layer in layers)
                and self._cache_keyword is not None
            )
            self._continuous = self._continuous and self._rows_reach_attention()
        return self._continuous

    def _rows_reach_attention(self) -> bool:
        """Whether the model's forward hands a decode step's `rows` to every layer's attention
        (transformers' decoders pass attention kwargs through; a layer that dropped them would
        attend over its one new token only). Probed once with a one-token step; a model whose
        keys and values the slots can't hold (other head shapes) fails the probe too."""
        import torch

        config = self.model.config
        try:
            kv = _Slots(config, 1, 1, self.model.dtype, self.device)
            with _rows_attention_on(self.model), torch.inference_mode():
                self.model(
                    input_ids=torch.zeros(1, 1, dtype=torch.long, device=self.device),
                    position_ids=torch.zeros(1, 1, dtype=torch.long, device=self.device),
                    use_cache=False,
                    logits_to_keep=1,
                    rows=kv.step([(0, 0)]),
                )
        except (RuntimeError, IndexError, TypeError, ValueError, AttributeError):
            return False
        return kv.attended == config.num_hidden_layers

    def _generate_continuous(
        self, prompts: list[tuple[int, list[int]]], params: SamplingParams, report: OnResult
    ) -> None:
        """Greedy decoding with continuous batching: up to `batch_size` rows decode together;
        a row leaves the batch (and is reported) the step it ends, by EOS, stop string or length,
        and the next prompt is prefilled on its own into the freed slot of the key/value buffers
        (`_Slots`). Each row attends over its own tokens only (`_rows_attention`)."""
        import torch

        eos = self._eos_ids()
        context = getattr(self.model.config, "max_position_embeddings", None) or 2048
        # new tokens per prompt: the request's limit, else what the context leaves (as the API
        # servers do); a set limit may run past the context, as model.generate does
        limits = {i: params.max_new_tokens or max(1, context - len(t)) for i, t in prompts}
        most = max(len(t) + limits[i] for i, t in prompts)  # the longest a row can get
        longest = max(len(t) for _, t in prompts)
        slots = min(self.batch_size, len(prompts))
        kv = _Slots(
            self.model.config,
            slots,
            min(most, longest + (params.max_new_tokens or 256)),
            self.model.dtype,
            self.device,
        )
        free = list(reversed(range(slots)))
        pending = list(reversed(prompts))  # pop() takes the next one
        rows: list[_Row] = []

        def going_on(row: _Row, token: int) -> bool:
            """Add the row's newest token; when it ends, report it and free its slot."""
            if not row.done_with(token, eos, params.stop, self.tokenizer):
                return True
            report(row.index, self._completion(row.ids, row.prompt_tokens, params, eos))
            free.append(row.slot)
            return False

        with _rows_attention_on(self.model):
            while pending or rows:
                while pending and free:
                    i, tokens = pending.pop()
                    row = _Row(i, len(tokens), limits[i], free.pop())
                    if going_on(row, self._prefill(tokens, kv, row.slot)):
                        rows.append(row)
                if not rows:
                    continue
                kv.fit(max(r.position for r in rows) + 1, most)
                logits = self.model(
                    input_ids=torch.tensor([[r.ids[-1]] for r in rows], device=self.device),
                    position_ids=torch.tensor([[r.position] for r in rows], device=self.device),
                    use_cache=False,
                    logits_to_keep=1,
                    rows=kv.step([(r.slot, r.position) for r in rows]),
                ).logits
                tokens = logits[:, -1].float().argmax(dim=-1).tolist()
                rows = [row for row, t in zip(rows, tokens, strict=True) if going_on(row, t)]

    def _prefill(self, tokens: list[int], kv: _Slots, slot: int) -> int:
        """Run one prompt through the model as plain greedy decoding does (a batch of one, no
        padding), keep its keys and values in `slot`; its first greedy token."""
        import torch
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        logits = self.model(
            input_ids=torch.tensor([tokens], device=self.device),
            use_cache=True,
            **{self._cache_keyword: cache},
            logits_to_keep=1,
        ).logits
        kv.store(slot, cache)
        return int(logits[0, -1].float().argmax())

    def _generate_batch(self, prompts: list[str], params: SamplingParams, report: OnResult) -> None:
        """Generate a batch; `report(j, completion)` for row j as soon as it ends with EOS (so
        progress moves per sequence and the store has it at once), the rest when all stop."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = enc.to(self.device)
        start, eos = enc.input_ids.shape[1], self._eos_ids()
        prompt_tokens = [int(m) for m in enc.attention_mask.sum(dim=1)]
        reported: set[int] = set()

        def finish(j: int, ids: list[int]) -> None:
            reported.add(j)
            report(j, self._completion(ids, prompt_tokens[j], params, eos))

        class ReportFinished(StoppingCriteria):
            """Never stops generation; reports rows whose newest token is an end of sequence."""

            def __call__(self, input_ids, scores, **kwargs):
                last = input_ids[:, -1].tolist()
                for j, token in enumerate(last):
                    if j not in reported and token in eos:
                        finish(j, input_ids[j, start:].tolist())
                return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

        sample = params.temperature > 0
        if sample:
            torch.manual_seed(params.seed or 0)
        out = self.model.generate(
            **enc,
            max_new_tokens=params.max_new_tokens or self._room(enc),
            do_sample=sample,
            temperature=params.temperature if sample else None,
            top_p=(params.top_p or 1.0) if sample else None,
            top_k=None,
            stop_strings=list(params.stop) or None,
            tokenizer=self.tokenizer if params.stop else None,
            pad_token_id=self.tokenizer.pad_token_id,
            stopping_criteria=StoppingCriteriaList([ReportFinished()]),
        )
        for j, row in enumerate(out[:, start:]):
            if j not in reported:
                finish(j, row.tolist())

    def _room(self, enc) -> int:
        """New tokens left in the model's context after the longest prompt of the batch (for a
        request that sets no limit, as the API servers treat one)."""
        context = getattr(self.model.config, "max_position_embeddings", None) or 2048
        return max(1, context - enc.input_ids.shape[1])

    def _completion(
        self, ids: list[int], prompt_tokens: int, params: SamplingParams, eos: set[int]
    ) -> Completion:
        """Up to the first end of sequence, decoded and cut at the first stop string."""
        n = next((k + 1 for k, t in enumerate(ids) if t in eos), len(ids))
        text, stopped = cut_at_stop(
            self.tokenizer.decode(ids[:n], skip_special_tokens=True), params.stop
        )
        hit_eos = bool(ids) and ids[n - 1] in eos
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=n,
            finish_reason="stop" if (stopped or hit_eos) else "length",
        )

    def _eos_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        ids = ids if isinstance(ids, list) else [ids]
        return {i for i in [*ids, self.tokenizer.eos_token_id] if i is not None}


register(
    BackendSpec(
        "hf",
        HFBackend,
        lambda spec, tag, options: weights_identity("hf", spec, tag),
        (
            Option(
                "batch_size",
                int,
                64,
                "hf backend batch size (rows decoded together)",
                "--batch-size",
                POSITIVE,
            ),
            Option("device", str, None, "hf backend device (default: cuda if available, else cpu)"),
            Option("dtype", str, "auto", "hf backend torch dtype (auto: bf16 on GPU, else fp32)"),
        ),
    )
)
