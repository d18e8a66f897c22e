"""transformers backend: batched generation with left padding, CPU or GPU.

Greedy decoding uses continuous batching (`_generate_continuous`): up to `batch_size` rows decode
together and a finished row's place goes to the next prompt at once, so no step is spent on
padding or on rows that have ended. Sampling, and models whose greedy decoding is more than an
argmax over a plain KV cache, use static length-sorted batches through `model.generate`.

torch and transformers are imported when the backend is built, so finding the backend is cheap."""

from __future__ import annotations

from collections.abc import Sequence

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


_SLAB = None


def _slab_layer():
    """A DynamicLayer that keeps its keys and values in buffers with room for `ROOM` more
    tokens, so a decode step writes in place (DynamicLayer concatenates, copying the whole cache
    every step: half of a step's time at 32 rows of 500 tokens on a CPU)."""
    global _SLAB
    if _SLAB is not None:
        return _SLAB
    from transformers.cache_utils import DynamicLayer

    class SlabLayer(DynamicLayer):
        ROOM = 64

        def __init__(self, keys, values):
            super().__init__()
            self.is_initialized, self.device = True, keys.device
            self._buffers(keys, values)

        def _buffers(self, keys, values) -> None:
            batch, heads, length, dim = keys.shape
            self._k = keys.new_empty(batch, heads, length + self.ROOM, dim)
            self._v = values.new_empty(batch, values.shape[1], length + self.ROOM, values.shape[3])
            self._k[:, :, :length], self._v[:, :, :length] = keys, values
            self.keys, self.values = self._k[:, :, :length], self._v[:, :, :length]

        def update(self, key_states, value_states, *args, **kwargs):
            length, add = self.keys.shape[-2], key_states.shape[-2]
            if length + add > self._k.shape[-2]:
                self._buffers(self.keys, self.values)
            self._k[:, :, length : length + add] = key_states
            self._v[:, :, length : length + add] = value_states
            self.keys = self._k[:, :, : length + add]
            self.values = self._v[:, :, : length + add]
            return self.keys, self.values

        def keep(self, rows, drop_left: int) -> None:
            """Keep only these batch rows, and drop the first `drop_left` positions."""
            length = self.keys.shape[-2] - drop_left
            self._k, self._v = self._k[rows, :, drop_left:], self._v[rows, :, drop_left:]
            self.keys, self.values = self._k[:, :, :length], self._v[:, :, :length]

        def batch_select_indices(self, indices) -> None:
            self.keep(indices, 0)

    _SLAB = SlabLayer
    return SlabLayer


class _Row:
    """One sequence of the continuous batch: which conversation, its tokens so far."""

    __slots__ = ("index", "prompt_tokens", "limit", "ids")

    def __init__(self, index: int, prompt_tokens: int, limit: int):
        self.index, self.prompt_tokens, self.limit = index, prompt_tokens, limit
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
        sliding-window or other special cache layers, a forward that takes `cache`."""
        import inspect

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
                and not getattr(config, "is_encoder_decoder", False)
                and all(type(layer) is DynamicLayer for layer in layers)
                and "cache" in inspect.signature(self.model.forward).parameters
            )
        return self._continuous

    def _generate_continuous(
        self, prompts: list[tuple[int, list[int]]], params: SamplingParams, report: OnResult
    ) -> None:
        """Greedy decoding with continuous batching: up to `batch_size` rows decode together;
        a row leaves the batch (and is reported) the step it ends, by EOS, stop string or length,
        and the next prompt is prefilled and joins in its place. Rows are left-padded in one
        KV cache; columns no remaining row uses are trimmed."""
        import torch

        eos = self._eos_ids()
        context = getattr(self.model.config, "max_position_embeddings", None) or 2048
        pending = list(reversed(prompts))  # pop() takes the next one
        rows: list[_Row] = []
        cache = mask = None  # KV cache [B, H, T, D] and attention mask [B, T] of `rows`
        last = torch.empty(0, dtype=torch.long, device=self.device)  # next input token per row

        while pending or rows:
            free = self.batch_size - len(rows)
            if pending and free > 0:
                group = [pending.pop() for _ in range(min(free, len(pending)))]
                new_cache, new_mask, first = self._prefill([t for _, t in group])
                new_rows = [
                    _Row(
                        i,
                        len(t),
                        params.max_new_tokens or max(1, context - len(t)),
                    )
                    for i, t in group
                ]
                cache, mask = self._join(cache, mask, new_cache, new_mask)
                fresh = len(rows)
                rows += new_rows
                last = torch.cat([last, first])
            else:
                step_mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1)
                positions = torch.tensor([[r.position] for r in rows], device=self.device)
                logits = self.model(
                    input_ids=last[:, None],
                    attention_mask=step_mask,
                    position_ids=positions,
                    cache=cache,
                    use_cache=True,
                    logits_to_keep=1,
                ).logits
                mask = step_mask
                last = logits[:, -1].float().argmax(dim=-1)
                fresh = 0
            # `last` holds each row's newest token: the first for rows just prefilled (from
            # `fresh` on), else this step's for every row
            tokens = last.tolist()
            keep = list(range(fresh))
            for j in range(fresh, len(rows)):
                row = rows[j]
                if row.done_with(tokens[j], eos, params.stop, self.tokenizer):
                    report(row.index, self._completion(row.ids, row.prompt_tokens, params, eos))
                else:
                    keep.append(j)
            if len(keep) < len(rows):
                rows = [rows[j] for j in keep]
                index = torch.tensor(keep, dtype=torch.long, device=self.device)
                last = last[index]
                if rows:
                    mask = mask[index]
                    used = int(mask.any(dim=0).float().argmax())  # first column still in use
                    mask = mask[:, used:]
                    for layer in cache.layers:
                        layer.keep(index, used)
                else:
                    cache = mask = None

    def _prefill(self, prompts: list[list[int]]):
        """Run left-padded prompts through the model: their KV cache, attention mask and first
        greedy token."""
        import torch
        from transformers import DynamicCache

        width = max(len(t) for t in prompts)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(t)) + t for t in prompts], device=self.device)
        mask = torch.tensor(
            [[0] * (width - len(t)) + [1] * len(t) for t in prompts], device=self.device
        )
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
        cache = DynamicCache(config=self.model.config)
        logits = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        ).logits
        return cache, mask, logits[:, -1].float().argmax(dim=-1)

    @staticmethod
    def _join(cache, mask, new_cache, new_mask):
        """Stack two left-padded batches (KV cache and attention mask), padding the shorter on the
        left."""
        import torch
        import torch.nn.functional as F

        slab = _slab_layer()
        if cache is None:
            new_cache.layers = [slab(layer.keys, layer.values) for layer in new_cache.layers]
            return new_cache, new_mask
        old, new = mask.shape[1], new_mask.shape[1]
        width = max(old, new)

        def stack(a, b):
            a = F.pad(a, (0, 0, width - old, 0)) if old < width else a
            b = F.pad(b, (0, 0, width - new, 0)) if new < width else b
            return torch.cat([a, b])

        cache.layers = [
            slab(stack(layer.keys, add.keys), stack(layer.values, add.values))
            for layer, add in zip(cache.layers, new_cache.layers, strict=True)
        ]
        mask = F.pad(mask, (width - old, 0)) if old < width else mask
        new_mask = F.pad(new_mask, (width - new, 0)) if new < width else new_mask
        return cache, torch.cat([mask, new_mask])

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
