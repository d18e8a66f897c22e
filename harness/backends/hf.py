"""transformers backend: batched greedy/sampled generation with left padding, CPU or GPU.

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
        lengths = [len(self.tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: -lengths[i])  # similar lengths batch well
        results: list[Completion | None] = [None] * len(prompts)

        def report(i: int, completion: Completion) -> None:
            results[i] = completion
            if on_result:
                on_result(i, completion)

        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            self._generate_batch(
                [prompts[i] for i in batch], params, lambda j, c, b=batch: report(b[j], c)
            )
        return results  # type: ignore[return-value]

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
            Option("batch_size", int, 16, "hf backend batch size", "--batch-size", POSITIVE),
            Option("device", str, None, "hf backend device (default: cuda if available, else cpu)"),
            Option("dtype", str, "auto", "hf backend torch dtype (auto: bf16 on GPU, else fp32)"),
        ),
    )
)
