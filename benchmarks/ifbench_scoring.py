"""Time to score IFBench's 300 responses: the harness scorer vs allenai/IFBench's evaluation_lib.

    python benchmarks/ifbench_scoring.py --reference DIR [--data-dir ../shared/benchmarks]
        [--repeat 3]

DIR is your own clone of allenai/IFBench at the commit in ../shared/benchmarks/SOURCES.md (its code
is not kept here).

No responses ship with IFBench, so each response is the item's prompt (a fixed, realistic-length
text). "reference" is run_eval.py's loop: test_instruction_following_strict then _loose per item,
from a private copy of the pinned reference code (it writes beside itself), NLTK downloads off.
Items whose checker needs NLTK data that is not installed (stopwords, the POS tagger) are left out
of both timings, and the count says so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from reference import reference_dir  # benchmarks/reference.py
from timing import best_of  # benchmarks/timing.py

from harness.suites import get_suite
from harness.suites.ifbench import missing_nltk_data


def reference_lib(folder: Path):
    import nltk

    copy = Path(tempfile.mkdtemp(prefix="ifbench-ref-")) / "reference"
    shutil.copytree(folder, copy)
    nltk.download = lambda *a, **k: False
    sys.path.insert(0, str(copy))
    import evaluation_lib

    return evaluation_lib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-dir")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reference", help="a clone of allenai/IFBench (see above)")
    args = ap.parse_args()
    folder = reference_dir("ifbench", args.reference)

    suite = get_suite("ifbench")
    loaded = suite.load(args.data_dir)
    items = [it for it in loaded if not missing_nltk_data(it["instruction_id_list"])]
    responses = [it["prompt"] for it in items]
    suite.score(items[:1], responses[:1])  # imports and NLTK set-up outside the timing
    ref = reference_lib(folder)

    def reference() -> None:
        for it, r in zip(items, responses):
            inp = ref.InputExample(
                it["key"], it["instruction_id_list"], it["prompt"], [dict(k) for k in it["kwargs"]]
            )
            ref.test_instruction_following_strict(inp, {it["prompt"]: r})
            ref.test_instruction_following_loose(inp, {it["prompt"]: r})

    ours = best_of(args.repeat, lambda: suite.score(items, responses))
    theirs = best_of(args.repeat, reference)
    print(
        json.dumps(
            {
                "items": len(items),
                "left_out_for_missing_nltk_data": len(loaded) - len(items),
                "harness_s": round(ours, 3),
                "reference_evaluation_lib_s": round(theirs, 3),
                "ratio": round(ours / theirs, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
