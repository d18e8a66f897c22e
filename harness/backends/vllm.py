"""vLLM offline engine backend (optional `gpu` extra; imported only when used)."""

from __future__ import annotations

from collections.abc import Sequence

from harness.backends.base import Backend, Completion, Conversation, OnResult, SamplingParams
from harness.backends.table import BackendSpec, Option, register
from harness.backends.weights import local_path, weights_identity
from harness.errors import HarnessError
from harness.registry import ModelSpec
from harness.validate import FRACTION, POSITIVE


def engine_args(
    spec: ModelSpec,
    *,
    tensor_parallel_size: int,
    data_parallel_size: int,
    gpu_memory_utilization: float,
    max_model_len: int | None,
) -> dict:
    """`vllm.LLM`'s keywords for `spec` with the backend's options (checkable without vLLM)."""
    return dict(
        model=local_path(spec),
        revision=spec.revision,
        trust_remote_code=spec.trust_remote_code,
        tensor_parallel_size=tensor_parallel_size,
        data_parallel_size=data_parallel_size,
        max_model_len=max_model_len,
        gpu_memory_utilization=gpu_memory_utilization,
        seed=0,
    )


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(self, spec: ModelSpec, **options):
        try:
            import vllm
        except ImportError:
            raise HarnessError(
                "the vllm backend needs vLLM: `pip install -e '.[gpu]'` on a CUDA machine, "
                "or use --backend hf"
            ) from None
        self.spec = spec
        self._vllm = vllm
        self.llm = vllm.LLM(**engine_args(spec, **options))

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams,
        on_result: OnResult | None = None,
    ) -> list[Completion]:
        sp = self._vllm.SamplingParams(
            max_tokens=params.max_new_tokens,
            temperature=params.temperature,
            top_p=1.0 if params.top_p is None else params.top_p,
            stop=list(params.stop) or None,
            seed=params.seed,
            logprobs=params.top_logprobs or None,
        )
        convs = [list(c) for c in conversations]
        if self.spec.system_prompt:
            convs = [
                c
                if c[0]["role"] == "system"
                else [{"role": "system", "content": self.spec.system_prompt}, *c]
                for c in convs
            ]
        template = None if self.spec.chat_template in ("auto", "none") else self.spec.chat_template
        outputs = self.llm.chat(convs, sp, chat_template=template, use_tqdm=True)
        results = []
        for i, out in enumerate(outputs):
            o = out.outputs[0]
            c = Completion(
                text=o.text,
                prompt_tokens=len(out.prompt_token_ids or []),
                completion_tokens=len(o.token_ids),
                finish_reason=o.finish_reason or "stop",
                top_logprobs=[
                    {lp.decoded_token: lp.logprob for lp in step.values()} for step in o.logprobs
                ]
                if o.logprobs
                else None,
            )
            results.append(c)
            if on_result:
                on_result(i, c)
        return results


register(
    BackendSpec(
        "vllm",
        VLLMBackend,
        lambda spec, tag, options: weights_identity("vllm", spec, tag),
        (
            Option(
                "tensor_parallel_size",
                int,
                1,
                "vllm backend: GPUs each copy of the model is split across",
                "--tensor-parallel-size",
                POSITIVE,
            ),
            Option(
                "data_parallel_size",
                int,
                1,
                "vllm backend: copies of the model generating side by side",
                "--data-parallel-size",
                POSITIVE,
            ),
            Option(
                "gpu_memory_utilization",
                float,
                0.85,
                "vllm backend: share of each GPU's memory the engine may take",
                "--gpu-memory-utilization",
                FRACTION,
            ),
            Option("max_model_len", int, None, "vllm backend: context length", rule=POSITIVE),
        ),
    )
)
