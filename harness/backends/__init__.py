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


def make_backend(spec: ModelSpec, backend: str | None = None, **options) -> Backend:
    """Build the backend named `backend` (default: the registry entry's) for `spec`."""
    name = backend or spec.backend
    options = {k: v for k, v in options.items() if v is not None}
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


def fingerprint_for(spec: ModelSpec, backend: str) -> str:
    """Identifies a model's outputs without loading it, so a fully cached run loads nothing."""
    if backend == "openai":
        return f"openai:{spec.source}"
    from harness.backends.weights import fingerprint

    return f"{backend}:{fingerprint(spec)}:{spec.chat_template}:{spec.system_prompt}"
