"""Backends on real components: the embedded model through transformers, and the OpenAI client
against a real HTTP server on loopback (faults injected there)."""

from __future__ import annotations

import time

import pytest
from openai_server import OpenAIServer

from harness.backends import SamplingParams, fingerprint_for, make_backend
from harness.errors import HarnessError
from harness.registry import ModelSpec, resolve_model
from harness.runner import CachedGenerator
from harness.store import Store

PROMPTS = [
    "Name three primary colors.",
    "Write one sentence about the sea.",
    "What is 2 + 2? Answer with a number.",
    "List two fruits, comma separated, and nothing else at all please.",
]


@pytest.fixture(scope="module")
def smol(embedded_model_dir):
    return make_backend(resolve_model("smollm2-135m-instruct"), "hf", batch_size=4)


def convs(prompts):
    return [[{"role": "user", "content": p}] for p in prompts]


def test_hf_batched_equals_one_at_a_time(smol):
    params = SamplingParams(max_new_tokens=12)
    batched = smol.generate(convs(PROMPTS), params)
    smol.batch_size = 1
    try:
        single = smol.generate(convs(PROMPTS), params)
    finally:
        smol.batch_size = 4
    assert [c.text for c in batched] == [c.text for c in single]
    assert all(c.text.strip() for c in batched)
    assert all(0 < c.completion_tokens <= 12 for c in batched)


def test_hf_stop_strings_and_lengths(smol):
    plain = smol.generate(convs(PROMPTS[:1]), SamplingParams(max_new_tokens=20))[0]
    word = plain.text.split()[1]
    stopped = smol.generate(convs(PROMPTS[:1]), SamplingParams(max_new_tokens=20, stop=(word,)))[0]
    assert stopped.text == plain.text[: plain.text.find(word)]
    assert stopped.finish_reason == "stop"
    short = smol.generate(convs(PROMPTS[:1]), SamplingParams(max_new_tokens=3))[0]
    assert short.finish_reason == "length" and short.completion_tokens == 3


def test_hf_eos_ends_generation(smol):
    c = smol.generate(convs(["Reply with just the word yes."]), SamplingParams(max_new_tokens=64))[
        0
    ]
    assert c.finish_reason == "stop" and c.completion_tokens < 64
    assert "<|im_end|>" not in c.text


def test_hf_reports_each_sequence_as_it_ends(smol):
    """Progress moves per sequence: a row that ends early is reported before the batch ends."""
    prompts = ["Reply with just the word yes.", *PROMPTS[:3]]
    seen: list[tuple[int, int, str]] = []
    out = smol.generate(
        convs(prompts),
        SamplingParams(max_new_tokens=40),
        lambda i, c: seen.append((i, c.completion_tokens, c.finish_reason)),
    )
    assert sorted(i for i, _, _ in seen) == [0, 1, 2, 3]
    early = [n for _, n, why in seen if why == "stop"]
    assert early and early == sorted(early), "rows ending with EOS come in the order they ended"
    assert seen[0][1] < max(c.completion_tokens for c in out)


def openai_backend(server, **kw):
    spec = ModelSpec(name="loop", source="loop-model", backend="openai")
    return make_backend(spec, "openai", base_url=server.base_url, backoff=0.01, timeout=1.0, **kw)


def test_openai_retries_through_faults(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123")
    faults = {"429": 0.15, "500": 0.15, "timeout": 0.05, "malformed": 0.1}
    with OpenAIServer(faults=faults, hang=1.5, seed=1) as server:
        out = openai_backend(server, concurrency=8, max_retries=8).generate(
            convs([f"q{i}" for i in range(40)]), SamplingParams(max_new_tokens=8)
        )
    assert [c.text for c in out] == [f"Reply: q{i}" for i in range(40)]
    assert all(c.ok for c in out)
    assert sum(server.outcomes[f] for f in faults) > 0 and server.outcomes["ok"] == 40


def test_openai_gives_up_with_a_reason():
    with OpenAIServer(faults={"500": 1.0}) as server:
        out = openai_backend(server, max_retries=2).generate(convs(["q"]), SamplingParams())
    assert not out[0].ok and "after 3 attempts" in out[0].error and "500" in out[0].error
    assert server.calls == 3


def test_openai_timeout_bounds_the_whole_call():
    """A reply trickled a byte every 0.3 s satisfies every read's timeout but never ends: the
    call still ends at its 1 s deadline, is retried as a timeout, and fails with the reason."""
    with OpenAIServer(faults={"trickle": 1.0}, trickle=0.3) as server:
        backend = openai_backend(server, max_retries=1)
        started = time.monotonic()
        out = backend.generate(convs(["q"]), SamplingParams())
        took = time.monotonic() - started
    assert not out[0].ok and "after 2 attempts" in out[0].error
    assert "timed out: no whole reply within 1 s" in out[0].error
    assert server.calls == 2 and 2.0 <= took < 3.5, took


def test_openai_concurrency_limit_and_cache(tmp_path, monkeypatch):
    """Parallel up to the limit; a second pass is served from the store with zero calls."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123")
    store = Store(tmp_path / "s.sqlite")
    with OpenAIServer(latency=0.2) as server:
        backend = openai_backend(server, concurrency=10)
        fp = fingerprint_for(backend.spec, "openai", base_url=server.base_url)
        gen = CachedGenerator(store, fp, "t@1", lambda: backend, progress=False)
        start = time.perf_counter()
        first = gen(convs([f"q{i}" for i in range(30)]), SamplingParams())
        took = time.perf_counter() - start
        assert server.calls == 30
        assert took < 30 * 0.2 / 2, "requests should overlap"
        again = gen(convs([f"q{i}" for i in range(30)]), SamplingParams())
        assert server.calls == 30
    assert [c.text for c in again] == [c.text for c in first]
    assert b"sk-test-secret-123" not in (tmp_path / "s.sqlite").read_bytes()


class SlowStore(Store):
    """A real store whose every commit of completions takes 50 ms, as a PostgreSQL round trip to
    a far server can; `fail_at` makes that commit raise instead (a full disk, a dropped server)."""

    def __init__(self, path, fail_at: int | None = None):
        super().__init__(path)
        self.groups: list[int] = []
        self.fail_at = fail_at

    def put_generations(self, rows, replace=False):
        self.groups.append(len(rows))
        time.sleep(0.05)
        if len(self.groups) == self.fail_at:
            raise OSError("No space left on device")
        super().put_generations(rows, replace)


def test_a_slow_store_does_not_hold_up_the_calls(tmp_path):
    """Results are committed on a writer thread, each commit taking everything that arrived during
    the last: 96 calls of 50 ms, 16 at a time, take about 6 waves, not 96 commits of 50 ms."""
    store = SlowStore(tmp_path / "s.sqlite")
    with OpenAIServer(latency=0.05) as server:
        backend = openai_backend(server, concurrency=16)
        fp = fingerprint_for(backend.spec, "openai", base_url=server.base_url)
        gen = CachedGenerator(store, fp, "t@1", lambda: backend, progress=False)
        prompts = convs([f"q{i}" for i in range(96)])
        start = time.perf_counter()
        first = gen(prompts, SamplingParams())
        took = time.perf_counter() - start
        assert server.calls == 96 and sum(store.groups) == 96 and store.count("generations") == 96
        assert took < 96 * 0.05 / 3, f"{took:.2f} s: the calls waited on the commits"
        assert len(store.groups) < 48, "results that arrive during a commit share the next one"
        again = gen(prompts, SamplingParams())
        assert server.calls == 96 and [c.text for c in again] == [c.text for c in first]


def test_a_failed_commit_stops_the_calls(tmp_path):
    store = SlowStore(tmp_path / "s.sqlite", fail_at=2)
    with OpenAIServer(latency=0.05) as server:
        backend = openai_backend(server, concurrency=4)
        gen = CachedGenerator(store, "fp", "t@1", lambda: backend, progress=False)
        with pytest.raises(OSError, match="No space left"):
            gen(convs([f"q{i}" for i in range(200)]), SamplingParams())
        assert server.calls < 40, "the calls go on after the store failed"
    assert store.count("generations") == store.groups[0]  # the first commit landed, whole


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(),
        SamplingParams(max_new_tokens=None, top_p=None, seed=None, n=1, temperature=0.7),
        SamplingParams(max_new_tokens=8, stop=("\n\n", "###"), top_logprobs=3, seed=5),
    ],
)
def test_openai_sends_what_chat_completions_create_sends(params):
    """The backend posts through the official client's generic POST (no per-call walk of the body
    through the SDK's TypedDicts, no pydantic reply model): the server must receive the very body
    and headers that `chat.completions.create` sends, and the reply must read the same."""
    import asyncio

    import openai
    from openai_server import judge_or_echo

    from harness.backends.openai_compat import request_body

    conv = [
        {"role": "system", "content": 'Rate it; reply "[[rating]]". Ünïcode ✓'},
        {"role": "user", "content": "the answer"},
    ]

    async def create(base_url: str):
        async with openai.AsyncOpenAI(
            api_key="EMPTY",
            base_url=base_url,
            timeout=1.0,
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(),
        ) as client:
            return await client.chat.completions.create(**request_body("loop-model", conv, params))

    with OpenAIServer(judge_or_echo) as server:
        ours = openai_backend(server).generate([conv], params)[0]
        reply = asyncio.run(create(server.base_url))
    assert server.requests[0] == server.requests[1]
    assert server.request_headers[0] == server.request_headers[1]
    assert ours.ok and ours.text == reply.choices[0].message.content
    assert (ours.prompt_tokens, ours.completion_tokens, ours.finish_reason) == (
        reply.usage.prompt_tokens,
        reply.usage.completion_tokens,
        reply.choices[0].finish_reason,
    )
    if params.top_logprobs:
        assert ours.top_logprobs == [
            {t.token: t.logprob for t in step.top_logprobs}
            for step in reply.choices[0].logprobs.content
        ]


def test_openai_works_without_aiohttp(monkeypatch):
    """Without aiohttp (the `openai[aiohttp]` extra) the client's default httpx transport serves."""
    import sys

    from harness.backends import openai_compat

    monkeypatch.setitem(sys.modules, "aiohttp", None)  # `import aiohttp` raises ImportError
    assert openai_compat._http_client(__import__("openai"), "http://127.0.0.1:8000/v1") is None
    with OpenAIServer() as server:
        out = openai_backend(server, concurrency=4).generate(convs(["a", "b"]), SamplingParams())
    assert [c.text for c in out] == ["Reply: a", "Reply: b"]


def test_openai_key_required_for_the_real_api(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(HarnessError, match="OPENAI_API_KEY is not set"):
        make_backend(ModelSpec(name="gpt-4", source="gpt-4", backend="openai"))


def test_vllm_missing_is_a_clear_error():
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(HarnessError, match=r"pip install -e '\.\[gpu\]'"):
            make_backend(resolve_model("smollm2-135m-instruct"), "vllm")
    else:
        pytest.skip("vllm is installed here")
