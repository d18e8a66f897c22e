"""Any OpenAI-compatible chat endpoint: async with a concurrency limit, retries with backoff.

The API key is read from the environment when the backend is built and kept only in the client;
it is never part of a fingerprint, a cache key, a log line or a result.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import random
from collections.abc import Sequence
from urllib.parse import urlsplit

from harness.backends.base import Backend, Completion, Conversation, OnResult, SamplingParams
from harness.backends.table import BackendSpec, Option, register
from harness.errors import HarnessError
from harness.redact import redact, redact_url
from harness.registry import ModelSpec
from harness.validate import NON_NEGATIVE, POSITIVE

OPENAI_URL = "https://api.openai.com/v1"


class EmptyReply(ValueError):
    """HTTP 200 without content: a failed call (retried), never an answer to score."""


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


def resolve_endpoint(
    spec: ModelSpec,
    base_url: str | None,
    api_key_env: str = "OPENAI_API_KEY",
    flag: str = "--base-url",
) -> tuple[str, str]:
    """The endpoint's URL and key; a malformed URL or a missing key for OpenAI is one line."""
    url = (base_url or spec.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HarnessError(
            f"{flag} {redact_url(url)!r} is not an http(s) URL; give one like "
            "http://localhost:8000/v1"
        )
    key = os.environ.get(api_key_env)
    if not key:
        if url == OPENAI_URL:
            raise HarnessError(
                f"{api_key_env} is not set: export it, or pass {flag} for a local "
                "OpenAI-compatible server"
            )
        key = "EMPTY"  # local servers (vllm serve) accept any key
    return url, key


# Model-card fields that name the weights behind a served model. `created` is the registration time
# on OpenAI's API but the time of the request on vLLM-style servers, which report the weights as
# `root`: it is kept only where no `root` is given.
CARD_FIELDS = ("id", "root", "parent", "owned_by", "max_model_len")


@functools.lru_cache(maxsize=64)
def _listed_models(url: str, key: str) -> tuple[dict, ...] | None:
    """The model cards `GET /models` lists, asked once per process and endpoint (a model and its
    judge on one server share the answer); None where the server has no such listing."""
    import openai

    client = openai.OpenAI(api_key=key, base_url=url, timeout=15.0, max_retries=2)
    try:
        return tuple(c.model_dump() for c in client.models.list().data)
    except (openai.AuthenticationError, openai.APIConnectionError):
        raise  # said by endpoint_card, naming the flag
    except (openai.APIStatusError, openai.APIResponseValidationError, ValueError, TypeError):
        return None
    finally:
        client.close()


def endpoint_card(url: str, key: str, model: str, flag: str = "--base-url") -> dict | None:
    """What `GET /models` says about `model`: its card; {"listed": False} where the server lists
    other models only; None where it lists nothing.

    Asked before any work, so an unreachable endpoint or a rejected key stops the run at once
    instead of failing every call.
    """
    import openai

    try:
        cards = _listed_models(url, key)
    except openai.AuthenticationError as e:
        raise HarnessError(
            f"{redact_url(url)} rejected the API key ({e.status_code}): {redact(_short(e))}; "
            "check the key's environment variable"
        ) from None
    except openai.APIConnectionError as e:
        raise HarnessError(
            f"cannot reach {redact_url(url)} ({redact(_short(e))}); start the server or fix {flag}"
        ) from None
    if not cards:
        return None  # no model listing: identity falls back to URL, name and --model-tag
    card = next((c for c in cards if c.get("id") == model), None)
    if card is None:  # an alias the server resolves itself (Ollama, proxies); a typo 404s later
        return {"listed": False}
    kept = {k: card[k] for k in CARD_FIELDS if card.get(k) is not None}
    if "root" not in kept and card.get("created") is not None:
        kept["created"] = card["created"]
    return kept


def endpoint_identity(
    spec: ModelSpec,
    base_url: str | None = None,
    model_tag: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    flag: str = "--base-url",
) -> str:
    """The fingerprint of a served model: endpoint URL (credentials masked), model name, what the
    server reports about the weights, and the user's tag for servers that report nothing."""
    url, key = resolve_endpoint(spec, base_url, api_key_env, flag)
    identity = {
        "url": redact_url(url),
        "model": spec.source,
        "card": endpoint_card(url, key, spec.source, flag),
        "tag": model_tag,
    }
    return "openai:" + json.dumps(identity, sort_keys=True, separators=(",", ":"))


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(
        self,
        spec: ModelSpec,
        base_url: str | None,
        concurrency: int,
        max_retries: int,
        timeout: float,
        backoff: float,
        api_key_env: str,
        flag: str,
    ):
        import openai

        self.spec = spec
        self.base_url, key = resolve_endpoint(spec, base_url, api_key_env, flag)
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff = backoff
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
        http = _http_client(self._openai, self.base_url)
        async with self._openai.AsyncOpenAI(**self._client_args, http_client=http) as client:

            async def one(i: int, conv: Conversation) -> Completion:
                async with sem:
                    c = await self._call(client, conv, params)
                if on_result:
                    on_result(i, c)
                return c

            return list(await asyncio.gather(*(one(i, c) for i, c in enumerate(conversations))))

    async def _call(self, client, conv: Conversation, params: SamplingParams) -> Completion:
        body = request_body(self.spec.source, conv, params)
        error = "no attempt"
        for attempt in range(self.max_retries + 1):
            try:
                # The official client's generic POST: the same body, headers, auth and errors as
                # `chat.completions.create` (tested), without its per-call walk of the body
                # through the params' TypedDicts (a no-op for these plain JSON fields) or the
                # pydantic model built from the reply: a quarter of the client's CPU per call
                # at 64 concurrent calls (benchmarks/README.md).
                # `timeout` bounds the whole call: the client's bounds each read only, so a
                # server that trickles a byte at a time would hold the call for ever
                post = client.post("/chat/completions", body=body, cast_to=object)
                return _completion(await asyncio.wait_for(post, self.timeout))
            except TimeoutError:
                error = f"timed out: no whole reply within {self.timeout:g} s"
            except Exception as e:  # noqa: BLE001 - classified below
                error = redact(f"{type(e).__name__}: {_short(e)}")
                if not _retryable(e):
                    return Completion(text="", error=error)
            if attempt < self.max_retries:
                await asyncio.sleep(self.backoff * 2**attempt * (0.5 + random.random()))
        return Completion(text="", error=f"gave up after {self.max_retries + 1} attempts: {error}")


def request_body(model: str, conv: Conversation, params: SamplingParams) -> dict:
    """The chat-completions body: the set fields only, in the OpenAI API's names."""
    body = {"model": model, "messages": conv}
    optional = {
        "max_tokens": params.max_new_tokens,  # None: the server's limit (InFoBench sends none)
        "temperature": params.temperature,
        "top_p": params.top_p,
        "seed": params.seed,
        "n": params.n,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if params.stop:
        body["stop"] = list(params.stop)
    if params.top_logprobs:
        body.update(logprobs=True, top_logprobs=params.top_logprobs)
    return body


def _short(e: Exception) -> str:
    return str(e).splitlines()[0][:200] if str(e) else ""


def _http_client(openai, url: str):
    """The official client's aiohttp transport (`openai[aiohttp]`) where aiohttp is installed,
    else None (its default httpx pool). At 64 concurrent calls the httpx pool's bookkeeping
    (every connection's liveness checked on each request's assignment and release) cost the
    client more CPU than the requests themselves. The TLS context (the CA bundle read and parsed:
    ~40 ms) is built once per process, not once per batch of calls.

    A URL with credentials (`http://user:pass@host`) keeps the httpx pool, which sends them as
    basic auth; aiohttp refuses them beside the client's Authorization header."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return None
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return None
    return openai.DefaultAioHttpClient(verify=_tls_context())


@functools.cache
def _tls_context():
    """The SDK's default TLS settings (verified, the system's CA bundle or SSL_CERT_FILE/DIR)."""
    import httpx2

    return httpx2.create_ssl_context()


def _completion(resp) -> Completion:
    """A Completion from the JSON of a chat-completions reply; ValueError (a failed, retried call)
    where it is not one."""
    choices = resp.get("choices") if isinstance(resp, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise ValueError("response has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise ValueError(f"reply content is a {type(content).__name__}, not text")
    steps = (choice.get("logprobs") or {}).get("content")
    if not content and not steps:
        raise EmptyReply(f"empty reply (finish_reason={choice.get('finish_reason')})")
    usage = resp.get("usage") or {}
    logprobs = None
    if steps:
        logprobs = [{t["token"]: t["logprob"] for t in step["top_logprobs"]} for step in steps]
    return Completion(
        text=content or "",
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
        finish_reason=choice.get("finish_reason") or "stop",
        top_logprobs=logprobs,
    )


register(
    BackendSpec(
        "openai",
        OpenAIBackend,
        lambda spec, tag, o: endpoint_identity(
            spec, o["base_url"], tag, o["api_key_env"], o["flag"]
        ),
        (
            Option(
                "base_url",
                str,
                None,
                "OpenAI-compatible endpoint for --backend openai",
                "--base-url",
            ),
            Option(
                "concurrency",
                int,
                16,
                "parallel requests for the openai backend",
                "--concurrency",
                POSITIVE,
            ),
            Option("max_retries", int, 6, "retries of a failed call", rule=NON_NEGATIVE),
            Option("timeout", float, 120.0, "seconds a call may take, all of it", rule=POSITIVE),
            Option("backoff", float, 1.0, "seconds before the first retry", rule=NON_NEGATIVE),
            Option("api_key_env", str, "OPENAI_API_KEY", "the variable holding the API key"),
            Option("flag", str, "--base-url", "the flag endpoint errors name (a judge's differs)"),
        ),
    )
)
