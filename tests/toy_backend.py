"""A whole backend in one file, registered from outside the harness package (imported through
$ECD_HARNESS_PLUGINS): the proof that a new backend, with its own option, needs no other change.

It answers each conversation with its last message reversed; `shout` answers in capitals. That
changes the outputs, so `shout` is part of the identity: a shouted answer is never reused for a
plain one.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.backends import (
    Backend,
    BackendSpec,
    Completion,
    Conversation,
    Option,
    SamplingParams,
    register,
)
from harness.registry import ModelSpec


class ToyBackend(Backend):
    name = "toy"

    def __init__(self, spec: ModelSpec, shout: bool):
        self.shout = shout

    def generate(
        self, conversations: Sequence[Conversation], params: SamplingParams, on_result=None
    ) -> list[Completion]:
        results = []
        for i, conversation in enumerate(conversations):
            prompt = conversation[-1]["content"]
            text = prompt[::-1].upper() if self.shout else prompt[::-1]
            results.append(Completion(text, len(prompt.split()), len(text.split())))
            if on_result:
                on_result(i, results[-1])
        return results


def identify(spec: ModelSpec, model_tag: str | None, options: dict) -> str:
    return f"toy:{spec.source}:shout={options['shout']}:tag={model_tag}"


register(
    BackendSpec(
        "toy",
        ToyBackend,
        identify,
        (Option("shout", bool, False, "toy backend: answer in capitals", "--toy-shout"),),
    )
)
