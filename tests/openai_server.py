"""A real OpenAI-compatible HTTP server on loopback, for tests and benchmarks.

`responder(body) -> str | dict` makes the reply text (a dict may also carry `top_logprobs`, a list
of {token: logprob} per generated token). Faults are injected at set rates from a seeded RNG:
429, 500, timeout (the reply is held past the client's timeout), malformed JSON, empty content,
trickle (a reply that never ends: a byte every `trickle` seconds, until the client hangs up).
`port` reuses an endpoint's address (a restarted server is the same endpoint to the harness,
whose cache identity includes the URL). `models` is what GET /v1/models lists (model cards; none by default). `key`, when set, is the only
API key accepted: any other gets a 401 whose body echoes the Authorization header, as some
servers do, so tests can check that secrets never reach results.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("429", "500", "timeout", "malformed", "empty", "401", "trickle")


def echo(body: dict) -> str:
    """Default reply: deterministic text derived from the last user message."""
    return "Reply: " + body["messages"][-1]["content"][:200]


def judge_or_echo(body: dict) -> str | dict:
    """A stand-in judge that also serves as the model under test, deterministic per prompt.

    Log-probability requests (alpaca_eval's annotator) get a first token "m"/"M" with top
    log-probabilities; prompts asking for "[[rating]]" (FastChat) get "Rating: [[k]]", k in 1..10;
    anything else gets `echo`.
    """
    prompt = body["messages"][-1]["content"]
    h = zlib.crc32(prompt.encode())
    if body.get("logprobs"):
        p = (h % 1000 + 1) / 1002  # P("m") in (0, 1)
        token = "m" if p >= 0.5 else "M"
        return {"content": token, "top_logprobs": [{"m": math.log(p), "M": math.log(1 - p)}]}
    if "[[rating]]" in body["messages"][0]["content"] + prompt:
        return f"The answer is adequate. Rating: [[{h % 10 + 1}]]"
    return echo(body)


class _Listener(ThreadingHTTPServer):
    """A listen backlog for many concurrent clients: the default (5) drops connection attempts
    beyond it, and each dropped SYN costs the client a 1 s retransmit."""

    request_queue_size = 1024


class OpenAIServer:
    def __init__(
        self,
        responder: Callable[[dict], str | dict] = echo,
        faults: dict[str, float] | None = None,
        latency: float = 0.0,
        hang: float = 3.0,
        trickle: float = 0.3,
        seed: int = 0,
        models: list[dict] | None = None,
        key: str | None = None,
        port: int = 0,
    ):
        unknown = set(faults or {}) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {FAULTS}")
        self.responder = responder
        self.faults = faults or {}
        self.latency = latency
        self.hang = hang
        self.trickle = trickle
        self.stopped = threading.Event()
        self.models = models or []
        self.key = key
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.outcomes: Counter[str] = Counter()
        self.requests: list[dict] = []
        self.request_headers: list[dict[str, str]] = []  # each POST's headers, names lowercased
        self.httpd = _Listener(("127.0.0.1", port), self._handler())  # port 0: any free one
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def calls(self) -> int:
        return sum(self.outcomes.values())

    def __enter__(self) -> OpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _draw_fault(self) -> str | None:
        with self.lock:
            x = self.rng.random()
        edge = 0.0
        for name in FAULTS:
            edge += self.faults.get(name, 0.0)
            if x < edge:
                return name
        return None

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One write per reply, sent at once, as real servers do. Unbuffered, the status line
            # and headers left in one segment and the body in a second that Nagle's algorithm
            # held until the client's delayed ACK: 40 ms added to every call.
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _trickle(self) -> None:
                """Headers promising a long body, then one byte per `trickle` seconds: every
                read of the client's finishes within its timeout, the reply never does."""
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(1 << 30))
                self.end_headers()
                try:
                    while not server.stopped.wait(server.trickle):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                except OSError:  # the client hung up
                    pass
                self.close_connection = True

            def _authorized(self, refuse: bool = False) -> bool:
                auth = self.headers.get("Authorization", "")
                if not refuse and (server.key is None or auth == f"Bearer {server.key}"):
                    return True
                echo = {"error": {"message": f"invalid credentials in header: {auth}"}}
                self._send(401, json.dumps(echo).encode())
                return False

            def do_GET(self) -> None:
                if self._authorized():
                    self._send(200, json.dumps({"object": "list", "data": server.models}).encode())

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self._authorized():
                    return
                if server.latency:
                    time.sleep(server.latency)
                fault = server._draw_fault()
                with server.lock:
                    server.outcomes[fault or "ok"] += 1
                    server.requests.append(body)
                    server.request_headers.append({k.lower(): v for k, v in self.headers.items()})
                if fault == "401":
                    return self._authorized(refuse=True)
                if fault == "429":
                    return self._send(429, b'{"error": {"message": "rate limited"}}')
                if fault == "500":
                    return self._send(500, b'{"error": {"message": "server error"}}')
                if fault == "timeout":
                    time.sleep(server.hang)
                    return self._send(504, b'{"error": {"message": "too late"}}')
                if fault == "trickle":
                    return self._trickle()
                if fault == "malformed":
                    return self._send(200, b'{"id": "x", "choices": [')
                reply = "" if fault == "empty" else server.responder(body)
                self._send(200, json.dumps(completion(body, reply)).encode())

        return Handler


def completion(body: dict, reply: str | dict) -> dict:
    text = reply if isinstance(reply, str) else reply["content"]
    logprobs = None
    if body.get("logprobs") and isinstance(reply, dict) and reply.get("top_logprobs"):
        logprobs = {
            "content": [
                {
                    "token": max(step, key=step.get),
                    "logprob": max(step.values()),
                    "bytes": None,
                    "top_logprobs": [
                        {"token": t, "logprob": lp, "bytes": None} for t, lp in step.items()
                    ],
                }
                for step in reply["top_logprobs"]
            ]
        }
    prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": logprobs,
                "message": {"role": "assistant", "content": text},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(text.split()),
            "total_tokens": prompt_tokens + len(text.split()),
        },
    }


def served_run(server: OpenAIServer, suite: str, store, *extra: str) -> list[str]:
    """`harness run` arguments for a suite whose model and judge are both this server's."""
    return [
        "run",
        "--suite",
        suite,
        "--model",
        "loop/back",
        "--backend",
        "openai",
        "--base-url",
        server.base_url,
        "--judge",
        "judge/x",
        "--judge-base-url",
        server.base_url,
        "--store",
        str(store),
        "--quiet",
        *extra,
    ]


FAST = dict(backoff=0.01, timeout=0.5, max_retries=8)  # client settings for fault-injection tests


def run_judged_suite(suite, items, store, server):
    """Run a judged suite with the loopback server as both the model under test and the judge.
    Returns (run id, SuiteResult)."""
    from harness.backends import SamplingParams, fingerprint_for, make_backend
    from harness.comparability import key
    from harness.judges import make_judge
    from harness.registry import ModelSpec
    from harness.runner import RunConfig, execute, judge_key

    spec = ModelSpec(name="loop-model", source="loop-model", backend="openai")
    params = SamplingParams(max_new_tokens=64)
    config = RunConfig(suite.name, spec.name, "openai", params.as_dict(), None, "test", "s")
    judge = make_judge("judge/x", store, base_url=server.base_url, progress=False, **FAST)
    outcome = execute(
        suite,
        items,
        fingerprint_for(spec, "openai", base_url=server.base_url),
        params,
        store,
        config,
        lambda: make_backend(spec, "openai", base_url=server.base_url, **FAST),
        key(suite.name, suite.version, items, items, params.as_dict(), judge_key(judge)),
        judge=judge,
        progress=False,
    )
    return outcome.run_id, outcome.result
