"""A whole rule-checked suite in one file, registered from outside the harness package (imported
through $ECD_HARNESS_PLUGINS): the proof that a new suite needs no other change."""

from __future__ import annotations

from harness import data
from harness.suites import Contribution, Metric, Suite, SuiteResult, register_suite

WORDS = ("apple", "river", "lantern", "violet")


@register_suite
class ToyWords(Suite):
    """Ask the model to say a word; an item passes when the reply contains it."""

    name = "toy_words"
    version = "1"
    metrics = (Metric("said_word_acc", "Toy said-the-word", 100.0, "%"),)
    paired_test = "mcnemar"

    def load(self, data_dir=None) -> list[dict]:
        if data_dir:  # rows {"id", "word"}
            self.source = str(data_dir)
            return data.read_jsonl(data_dir, ("id", "word"))
        self.source = "built-in"
        return [{"id": str(i), "word": w} for i, w in enumerate(WORDS)]

    def prompts(self, item: dict) -> list[str]:
        return [f"Say the word '{item['word']}' and nothing else."]

    def run(self, items, ctx) -> SuiteResult:
        completions = ctx.generate(
            [[{"role": "user", "content": self.prompts(it)[0]}] for it in items]
        )
        errors = [None if c.ok else c.error for c in completions]
        return self.score(items, [c.text for c in completions], errors=errors)

    def score(self, items, responses, judge=None, errors=None) -> SuiteResult:
        errors = errors or [None] * len(items)
        records = []
        for it, text, err in zip(items, responses, errors):
            record = {"id": it["id"], "response": text, "said": None}
            if err:
                record["error"] = err
            else:
                record["said"] = it["word"] in text.lower()
            records.append(record)
        scored = [r["said"] for r in records if r["said"] is not None]
        metrics = {"said_word_acc": sum(scored) / len(scored)} if scored else {}
        return SuiteResult(metrics, records, total=len(items), failed=len(items) - len(scored))

    def contribution(self, record: dict) -> Contribution:
        return None if record.get("said") is None else (float(record["said"]), 1.0)
