"""Run allenai/IFBench's own evaluation_lib (the pinned copy in ../shared) on cases read from stdin.

Used by tests/test_ifbench.py in a subprocess: the reference package is named `ifbench`, writes a
`.nltk_data` folder beside itself and calls `nltk.download` at import, so it runs from a private
copy, with downloads turned off and NLTK_DATA pointing at the harness's offline punkt_tab.

stdin: {"reference": DIR, "cases": [{"item": {...}, "response": str}, ...]}
stdout: [{"strict": [bool], "loose": [bool]} or {"error": name}, ...], one per case, strict then
loose on the same input as run_eval.py does it.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
from pathlib import Path


def main() -> None:
    job = json.load(sys.stdin)
    copy = Path(tempfile.mkdtemp(prefix="ifbench-ref-")) / "reference"
    shutil.copytree(job["reference"], copy)
    import nltk

    nltk.download = lambda *a, **k: False
    sys.path.insert(0, str(copy))
    import evaluation_lib

    out = []
    for case in job["cases"]:
        item, response = case["item"], case["response"]
        inp = evaluation_lib.InputExample(
            key=item["key"],
            instruction_id_list=item["instruction_id_list"],
            prompt=item["prompt"],
            kwargs=[dict(kw) for kw in item["kwargs"]],
        )
        answers = {item["prompt"]: response}
        try:
            random.seed(f"ifbench:{item['key']}")
            strict = evaluation_lib.test_instruction_following_strict(inp, answers)
            random.seed(f"ifbench:{item['key']}")
            loose = evaluation_lib.test_instruction_following_loose(inp, answers)
        except Exception as e:  # the reference has no verdict for this response
            out.append({"error": type(e).__name__})
            continue
        out.append(
            {"strict": strict.follow_instruction_list, "loose": loose.follow_instruction_list}
        )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
