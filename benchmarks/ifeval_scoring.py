"""Time to score 541 IFEval responses: the harness scorer vs calling lm-eval's checkers directly.

    python benchmarks/ifeval_scoring.py [--data-dir ../shared/benchmarks] [--repeat 3]

The responses are the prompts themselves (a fixed, realistic-length text per item). "direct" is
the loop an lm-eval user runs: test_instruction_following_strict and _loose per item.
"""

from __future__ import annotations

import argparse
import json

from timing import best_of  # benchmarks/timing.py

from harness.suites import get_suite


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-dir")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    suite = get_suite("ifeval")
    items = suite.load(args.data_dir)
    responses = [it["prompt"] for it in items]
    from harness.suites.ifeval_rules import reference  # after our offline punkt set-up

    def direct() -> None:
        for it, r in zip(items, responses):
            inp = reference.InputExample(
                it["key"], it["instruction_id_list"], it["prompt"], it["kwargs"]
            )
            reference.test_instruction_following_strict(inp, r)
            reference.test_instruction_following_loose(inp, r)

    ours = best_of(args.repeat, lambda: suite.score(items, responses))
    theirs = best_of(args.repeat, direct)
    print(
        json.dumps(
            {
                "items": len(items),
                "harness_s": round(ours, 3),
                "lm_eval_checkers_s": round(theirs, 3),
                "ratio": round(ours / theirs, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
