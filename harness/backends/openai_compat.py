"""Any OpenAI-compatible chat endpoint: async with a concurrency limit, retries with backoff.

The API key is read from the environment when the backend is built and kept only in the client;
it is never part of a fingerprint, a cache key, a log line or a result.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Sequence

from harness.backends import fingerprint_for
from harness.backends.base import Backend, Completion, Conversation, OnResult, SamplingParams
from harness.errors import HarnessError
from harness.registry import ModelSpec

OPENAI_URL = "https://api.openai.com/v1"


def _retryable(exc: Exception) -> bool:
    import openai

    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(
        exc,
        (
            openai.APITimeoutError,
            openai.APIConnectionError,
            openai.APIResponseValidationError,
            ValueError,
        ),
    )


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(
        self,
        spec: ModelSpec,
        base_url: str | None = None,
        concurrency: int = 16,
        max_retries: int = 6,
        timeout: float = 120.0,
        backoff: float = 1.0,
        api_key_env: str = "OPENAI_API_KEY",
    ):
        import openai

        self.spec = spec
        self.base_url = (
            base_url or spec.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL
        ).rstrip("/")
        key = os.environ.get(api_key_env)
        if not key:
            if self.base_url == OPENAI_URL:
                raise HarnessError(
                    f"{api_key_env} is not set: export it, or pass --base-url for a local "
                    "OpenAI-compatible server"
                )
            key = "EMPTY"  # local servers (vllm serve) accept any key
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        self.fingerprint = fingerprint_for(spec, "openai")
        self._client_args = dict(
            api_key=key, base_url=self.base_url, timeout=timeout, max_retries=0
        )
        self._openai = openai

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams,
        on_result: OnResult | None = None,
    ) -> list[Completion]:
        return asyncio.run(self.agenerate(conversations, params, on_result))

    async def agenerate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams,
        on_result: OnResult | None = None,
    ) -> list[Completion]:
        sem = asyncio.Semaphore(self.concurrency)
        async with self._openai.AsyncOpenAI(**self._client_args) as client:

            async def one(i: int, conv: Conversation) -> Completion:
                async with sem:
                    c = await self._call(client, conv, params)
                if on_result:
                    on_result(i, c)
                return c

            return list(await asyncio.gather(*(one(i, c) for i, c in enumerate(conversations))))

    async def _call(self, client, conv: Conversation, params: SamplingParams) -> Completion:
        kwargs = dict(
            model=self.spec.source,
            messages=conv,
            max_tokens=params.max_new_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
        )
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if params.top_logprobs:
            kwargs.update(logprobs=True, top_logprobs=params.top_logprobs)
        error = "no attempt"
        for attempt in range(self.max_retries + 1):
            try:
                resp = await client.chat.completions.create(**kwargs)
                return _completion(resp)
            except Exception as e:  # noqa: BLE001 - classified below
                if not _retryable(e):
                    return Completion(text="", error=f"{type(e).__name__}: {_short(e)}")
                error = f"{type(e).__name__}: {_short(e)}"
            if attempt < self.max_retries:
                await asyncio.sleep(self.backoff * 2**attempt * (0.5 + random.random()))
        return Completion(text="", error=f"gave up after {self.max_retries + 1} attempts: {error}")


def _short(e: Exception) -> str:
    return str(e).splitlines()[0][:200] if str(e) else ""


def _completion(resp) -> Completion:
    if not getattr(resp, "choices", None):
        raise ValueError("response has no choices")
    choice = resp.choices[0]
    usage = resp.usage
    logprobs = None
    if choice.logprobs and choice.logprobs.content:
        logprobs = [
            {t.token: t.logprob for t in step.top_logprobs} for step in choice.logprobs.content
        ]
    return Completion(
        text=choice.message.content or "",
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        finish_reason=choice.finish_reason or "stop",
        top_logprobs=logprobs,
    )
