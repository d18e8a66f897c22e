"""Time of FollowBench's rule-based scoring: the harness's checks vs YJiangcm/FollowBench's own
rule_based_evaluation.py, on the same synthetic responses.

    python benchmarks/followbench_scoring.py --reference DIR [--data-dir ../shared/benchmarks]
        [--repeat 5]

DIR is your own clone of YJiangcm/FollowBench (or its code/ folder) at the commit in
../shared/benchmarks/SOURCES.md (its code is not kept here).

The 350 rule-checked items (the example category's 200 templates, 150 items of content, situation,
mixed and format) get three responses each: the item's target (its template filled with a short
answer for the example category), the item's own instruction (a realistic-length text) and a fixed
sentence. "reference" calls the verdict functions that FollowBench's rule_evaluation and
evaluate_example_constraint call per item (rule_evaluation_<source>, rule_evaluation_format,
check_match with the target stripped of its instruction), without their file reading and
O(n^2) prompt matching. "harness score" is FollowBench.score on the same responses (verdicts,
HSR/SSR/CSL aggregation and records; no judge needed for these items).
"""

from __future__ import annotations

import argparse
import json
import sys

from reference import reference_dir  # benchmarks/reference.py
from timing import best_of  # benchmarks/timing.py

from harness.suites import get_suite
from harness.suites.followbench import rule_verdict

FIXED = "We show that sparse activations improve model efficiency."


def filled(item: dict) -> str:
    if item["method"] != "template":
        return item["target"]
    text = item["target"].replace("{instruction}\n", "").replace("{{", "{").replace("}}", "}")
    return text.replace("{answer}", "Legal Anywhere.com")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-dir")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--reference", help="a clone of YJiangcm/FollowBench (see above)")
    args = ap.parse_args()
    folder = reference_dir("followbench", args.reference)

    import matplotlib

    matplotlib.use("Agg")  # the reference module imports pyplot
    sys.path.insert(0, str(folder))
    import rule_based_evaluation as rb

    suite = get_suite("followbench")
    items = [it for it in suite.load(args.data_dir) if it["method"] != "judge"]
    cases = [(it, r) for it in items for r in (filled(it), it["instruction"], FIXED)]

    def reference() -> list[bool]:
        out = []
        for it, g in cases:
            if it["method"] == "template":
                out.append(rb.check_match(it["target"].replace("{instruction}\n", ""), g))
            elif it["method"] == "format":
                out.append(rb.rule_evaluation_format(g, it["example_id"], it["level"]))
            else:
                check = getattr(rb, f"rule_evaluation_{it['source']}")
                out.append(check(g, it["target"], it["level"]))
        return [bool(v) for v in out]

    def ours() -> list[bool]:
        return [rule_verdict(it, g) for it, g in cases]

    assert ours() == reference(), "verdicts differ from the reference"
    by_response = [[(it, g) for it, g in cases[k::3]] for k in range(3)]
    batches = [([it for it, _ in b], [g for _, g in b]) for b in by_response]

    def score() -> None:
        for batch_items, responses in batches:
            suite.score(batch_items, responses)

    harness_s = best_of(args.repeat, ours)
    reference_s = best_of(args.repeat, reference)
    score_s = best_of(args.repeat, score)
    print(
        json.dumps(
            {
                "items": len(items),
                "verdicts": len(cases),
                "passed": sum(ours()),
                "harness_verdicts_s": round(harness_s, 4),
                "reference_verdicts_s": round(reference_s, 4),
                "ratio_harness_over_reference": round(harness_s / reference_s, 2),
                "harness_score_s": round(score_s, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
