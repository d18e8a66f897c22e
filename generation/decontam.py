"""Decontamination: word n-gram overlap of generated instructions with benchmark prompts.

Benchmark prompts come through the harness suites' own loaders (so the same data resolution:
--data-dir / $ECD_HARNESS_DATA, the hub, installed data wheels). A benchmark that cannot be loaded
is skipped with its reason in stats.json rather than stopping a long generation run.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass, field

from harness.errors import HarnessError
from harness.suites import get_suite

_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


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
            suite = get_suite(name)
            items = suite.load(data_dir)
        except (HarnessError, OSError, ValueError, KeyError) as e:  # degrade, don't stop the run
            index.skipped[name] = str(e) or type(e).__name__
            print(f"warning: decontamination against {name} skipped: {e}", file=sys.stderr)
            continue
        count = 0
        for item in items:
            for text in suite.prompts(item):
                count += 1
                for g in ngrams(words(text), n):
                    index.grams.setdefault(g, (name, str(item.get("id", ""))))
        index.prompts[name] = count
    return index
