"""Backends by name; each is imported only when asked for (vLLM is an optional extra)."""

from __future__ import annotations

from harness.backends.base import Backend, Completion, Conversation, SamplingParams, Usage
from harness.errors import HarnessError
from harness.registry import BACKENDS, ModelSpec

__all__ = [
    "Backend",
    "Completion",
    "Conversation",
    "SamplingParams",
    "Usage",
    "fingerprint_for",
    "make_backend",
]


IDENTITY_ONLY = ("model_tag",)  # options that name a model without changing how it runs


def make_backend(spec: ModelSpec, backend: str | None = None, **options) -> Backend:
    """Build the backend named `backend` (default: the registry entry's) for `spec`."""
    name = backend or spec.backend
    options = {k: v for k, v in options.items() if v is not None and k not in IDENTITY_ONLY}
    if name == "hf":
        from harness.backends.hf import HFBackend

        return HFBackend(spec, **options)
    if name == "vllm":
        from harness.backends.vllm import VLLMBackend

        return VLLMBackend(spec, **options)
    if name == "openai":
        from harness.backends.openai_compat import OpenAIBackend

        return OpenAIBackend(spec, **options)
    raise HarnessError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}")


def fingerprint_for(spec: ModelSpec, backend: str, **options) -> str:
    """Identifies a model's outputs without loading it, so a fully cached run loads nothing.

    Local weights: a content hash of every weight, tokenizer and template file (or the hub commit);
    endpoints: URL, served model card and `model_tag`. `options` are make_backend's.
    """
    tag = options.get("model_tag")
    if backend == "openai":
        from harness.backends.openai_compat import endpoint_identity

        keep = ("base_url", "api_key_env", "flag")
        return endpoint_identity(
            spec, model_tag=tag, **{k: options[k] for k in keep if k in options}
        )
    from harness.backends.weights import fingerprint

    fp = f"{backend}:{fingerprint(spec)}:{spec.chat_template}:{spec.system_prompt}"
    return f"{fp}:tag={tag}" if tag else fp
