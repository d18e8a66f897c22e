"""Suites of prompts with verifiable instructions, scored by rule checkers (IFEval, IFBench).

They share Google's data format (`key`, `prompt`, `instruction_id_list`, `kwargs`), the strict and
loose verdicts per instruction, the four official metrics with per-instruction and per-category
breakdowns, and the response files people bring (`{"prompt", "response"}` JSONL, lm-eval
samples). A suite here says how to check one prompt and which instruction ids it knows.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from harness import data
from harness.errors import HarnessError
from harness.suites.base import Contribution, Metric, Suite, SuiteResult

FIELDS = ("key", "prompt", "instruction_id_list", "kwargs")


@dataclass
class Verdict:
    key: str
    strict: list[bool]  # one per instruction
    loose: list[bool]

    @property
    def prompt_strict(self) -> bool:
        return all(self.strict)

    @property
    def prompt_loose(self) -> bool:
        return all(self.loose)


def accuracy_metrics(label: str, headline: str) -> tuple[Metric, ...]:
    """The four official metrics (stored as fractions, shown as percent), `headline` first."""
    names = {
        "prompt_level_strict_acc": "prompt-strict",
        "inst_level_strict_acc": "inst-strict",
        "prompt_level_loose_acc": "prompt-loose",
        "inst_level_loose_acc": "inst-loose",
    }
    order = [headline, *(k for k in names if k != headline)]
    return tuple(
        Metric(k, f"{label} {names[k]}" if k == headline else names[k], 100.0, "%") for k in order
    )


def aggregate(items: list[dict], verdicts: list[Verdict]) -> tuple[dict, dict]:
    """The four official metrics, plus accuracy per instruction id and per category."""
    n = len(verdicts)
    inst_strict = [v for vd in verdicts for v in vd.strict]
    inst_loose = [v for vd in verdicts for v in vd.loose]
    metrics = {
        "prompt_level_strict_acc": sum(v.prompt_strict for v in verdicts) / n,
        "inst_level_strict_acc": sum(inst_strict) / len(inst_strict),
        "prompt_level_loose_acc": sum(v.prompt_loose for v in verdicts) / n,
        "inst_level_loose_acc": sum(inst_loose) / len(inst_loose),
    }
    per_id: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    per_cat: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for item, vd in zip(items, verdicts):
        for iid, s, lo in zip(item["instruction_id_list"], vd.strict, vd.loose):
            per_id[iid].append((s, lo))
            per_cat[iid.split(":")[0]].append((s, lo))

    def table(groups):
        return {
            k: {
                "n": len(v),
                "strict_acc": sum(s for s, _ in v) / len(v),
                "loose_acc": sum(lo for _, lo in v) / len(v),
            }
            for k, v in sorted(groups.items())
        }

    return metrics, {"per_instruction": table(per_id), "per_category": table(per_cat)}


def validate(rows: list[dict], origin: str, known: Collection[str]) -> list[dict]:
    """Items in Google's format; a row that is not one is one error line naming the item."""
    items = []
    for n, row in enumerate(rows, 1):
        key = row.get("key", f"#{n}")
        missing = [f for f in FIELDS if f not in row]
        if missing:
            raise HarnessError(f"{origin}: item {key} lacks {', '.join(missing)}")
        ids, kwargs = row["instruction_id_list"], row["kwargs"]
        if not isinstance(row["prompt"], str) or not isinstance(ids, list):
            raise HarnessError(f"{origin}: item {key} needs a string prompt and a list of ids")
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise HarnessError(f"{origin}: item {key} has unknown instruction {unknown[0]!r}")
        if not isinstance(kwargs, list) or len(kwargs) != len(ids):
            got = len(kwargs) if isinstance(kwargs, list) else type(kwargs).__name__
            raise HarnessError(f"{origin}: item {key} has {got} kwargs for {len(ids)} instructions")
        if not all(isinstance(kw, dict) for kw in kwargs):
            raise HarnessError(f"{origin}: item {key} has kwargs that are not objects")
        items.append({"id": str(key), **{f: row[f] for f in FIELDS}})
    if len({it["id"] for it in items}) != len(items):
        raise HarnessError(f"{origin}: an item key appears more than once")
    return items


# lm-eval's per-sample metric names -> our record's fields
LM_EVAL_SAMPLE_METRICS = {
    "prompt_level_strict_acc": "prompt_strict",
    "inst_level_strict_acc": "strict",
    "prompt_level_loose_acc": "prompt_loose",
    "inst_level_loose_acc": "loose",
}


class VerifiableSuite(Suite):
    """Generate one reply per prompt, check each instruction strictly and loosely."""

    paired_test = "mcnemar"  # each prompt passes or fails
    label: str  # "IFEval": the name the headline's label starts with
    headline_verdict = "prompt_strict"  # the record field the headline counts

    @abstractmethod
    def check(self, item: dict, response: str) -> Verdict:
        """Strict and loose verdicts for one prompt, one per instruction."""

    def unchecked(self, items: list[dict]) -> dict[str, str]:
        """Items this machine can't check, by id, with why (none by default)."""
        return {}

    def find(self, prompt, by_prompt: dict[str, dict], by_key: dict[str, dict]) -> dict | None:
        """The item a response file's prompt belongs to (exact text by default)."""
        return by_prompt.get(prompt)

    def run(self, items, ctx) -> SuiteResult:
        completions = ctx.generate([[{"role": "user", "content": it["prompt"]}] for it in items])
        errors = [None if c.ok else f"generation failed: {c.error}" for c in completions]
        return self.score(items, [c.text for c in completions], errors=errors)

    def contribution(self, record: dict) -> Contribution:
        # a failed item has no verdict: counting it as a fail would move McNemar and the CI
        verdict = record.get(self.headline_verdict)
        return None if verdict is None else (float(bool(verdict)), 1.0)

    def prompts(self, item: dict) -> list[str]:
        return [item["prompt"]]

    def score(self, items, responses, judge=None, errors=None) -> SuiteResult:
        """The official metrics over the items that have a response; a failed item (its error
        given, or one this machine can't check) is recorded with its reason and left out of every
        metric, as a count."""
        unchecked = self.unchecked(items)
        errors = [
            err or unchecked.get(it["id"]) for it, err in zip(items, errors or [None] * len(items))
        ]
        answered = [(it, r) for it, r, e in zip(items, responses, errors) if e is None]
        verdicts = {it["id"]: self.check(it, r) for it, r in answered}
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
        return SuiteResult(
            metrics, records, breakdown, self.notes(items), total=len(items), failed=failed
        )

    def export(
        self, folder: Path, items: list[dict], result: SuiteResult, model: str, judge: str
    ) -> list[Path]:
        """The reference's `input_response_data` JSONL ({prompt, response}: what Google's
        evaluation_main reads) and lm-eval's `samples_<suite>.jsonl` (doc, resps, filtered_resps
        and the per-sample metrics), the answered items only; `score --responses` reads both."""
        by_id = {it["id"]: it for it in items}
        done = [r for r in result.records if r.get("response") is not None and r["id"] in by_id]
        responses = [{"prompt": r["prompt"], "response": r["response"]} for r in done]
        samples = [
            {
                "doc_id": n,
                "doc": {"key": r["id"], **{k: v for k, v in by_id[r["id"]].items() if k != "id"}},
                "target": 0,
                "resps": [[r["response"]]],
                "filtered_resps": [r["response"]],
                **{
                    metric: r[field]
                    for metric, field in LM_EVAL_SAMPLE_METRICS.items()
                    if field in r
                },
            }
            for n, r in enumerate(done)
        ]
        paths = [folder / "input_response_data.jsonl", folder / f"samples_{self.name}.jsonl"]
        data.write_jsonl_atomic(paths[0], responses)
        data.write_jsonl_atomic(paths[1], samples)
        return paths

    def notes(self, items: list[dict]) -> list[str]:
        """What a reader of these numbers must know about the data or the checking."""
        return []

    def read_responses(self, path: Path, items: list[dict]) -> tuple[list[dict], list[str]]:
        """Official `{"prompt", "response"}` JSONL or lm-eval's `samples_<task>_*.jsonl`.

        Returns the items that have a response (in file order) and the responses.
        """
        by_prompt = {it["prompt"]: it for it in items}
        by_key = {it["id"]: it for it in items}
        chosen, responses = [], []
        for n, row in enumerate(data.read_jsonl(path), 1):
            if "doc" in row and ("resps" in row or "filtered_resps" in row):  # lm-eval sample
                doc = row["doc"] if isinstance(row["doc"], dict) else {}
                item = by_key.get(str(doc.get("key"))) or self.find(
                    doc.get("prompt"), by_prompt, by_key
                )
                resp = row.get("filtered_resps") or row["resps"][0]
                resp = resp[0] if isinstance(resp, list) and resp else resp
            elif "prompt" in row and "response" in row:
                item, resp = self.find(row["prompt"], by_prompt, by_key), row["response"]
            else:
                raise HarnessError(
                    f'{path}:{n}: expected {{"prompt", "response"}} (official {self.label}) or '
                    'an lm-eval sample with "doc" and "resps"'
                )
            if item is None:
                raise HarnessError(
                    f"{path}:{n}: prompt is not an {self.label} prompt of the loaded data"
                )
            if not isinstance(resp, str):
                raise HarnessError(f"{path}:{n}: response is not a string")
            chosen.append(item)
            responses.append(resp)
        if len({it["id"] for it in chosen}) != len(chosen):
            raise HarnessError(f"{path}: a prompt appears more than once")
        return chosen, responses
