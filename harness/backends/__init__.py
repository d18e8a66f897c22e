"""Backends by name, from the backend table (`table.py`); each engine is imported only when built
(vLLM is an optional extra)."""

from __future__ import annotations

from harness.backends.base import PRICES, Backend, Completion, Conversation, SamplingParams, Usage
from harness.backends.table import (
    BackendSpec,
    Option,
    backend_names,
    flagged_options,
    get_backend,
    register,
)
from harness.registry import ModelSpec

__all__ = [
    "PRICES",
    "Backend",
    "BackendSpec",
    "Completion",
    "Conversation",
    "Option",
    "SamplingParams",
    "Usage",
    "backend_names",
    "fingerprint_for",
    "flagged_options",
    "get_backend",
    "make_backend",
    "register",
    "resolve_options",
]


def resolve_options(spec: ModelSpec, backend: str, given: dict) -> dict:
    """Every option `backend` is built with: its declared defaults, then the registry entry's
    `backend_options` (when the entry runs on this backend), then `given` (None: not given).
    An option the backend does not take is one line."""
    kind = get_backend(backend)
    entry = spec.backend_options if backend == spec.backend else {}
    given = kind.check({k: v for k, v in given.items() if v is not None}, "backend options")
    return {**kind.defaults(), **entry, **given}


def make_backend(spec: ModelSpec, backend: str | None = None, **options) -> Backend:
    """Build the backend named `backend` (default: the registry entry's) for `spec`."""
    name = backend or spec.backend
    options.pop("model_tag", None)  # names a model without changing how it runs
    return get_backend(name).build(spec, **resolve_options(spec, name, options))


def fingerprint_for(spec: ModelSpec, backend: str, **options) -> str:
    """Identifies a model's outputs without loading it, so a fully cached run loads nothing.

    Local weights: a content hash of every weight, tokenizer and template file (or the hub commit);
    endpoints: URL, served model card and `model_tag`. `options` are make_backend's.
    """
    tag = options.pop("model_tag", None)
    return get_backend(backend).identify(spec, tag, resolve_options(spec, backend, options))
