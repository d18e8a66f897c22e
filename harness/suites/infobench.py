"""InFoBench (Qin et al. 2024): 500 instructions, each decomposed into yes/no questions that an LLM
judge answers about a response; the headline is DRFR, the share of questions answered "yes".

Judging is qinyiwei/InfoBench's evaluation.py (@ 557fba025e), request by request:
- one judge conversation per instruction: the first user turn is the official SYS_MSG, the input
  (only when the item has one), the generated text and question 1; each later question is a new
  user turn `question + "\\n"` after the judge's previous replies, sent as assistant turns, so
  question k is asked with the whole history of questions < k (there is no system-role message:
  SYS_MSG is part of the first user turn);
- the request body is `model, messages, temperature=0` and nothing else (no max_tokens, top_p or
  seed); the default judge is `gpt-4-0314`;
- a reply is Yes when it starts with "yes" (any case), No when it starts with "no"; otherwise Yes
  when "YES" is in it and "NO" is not, No when "NO" is in it and "YES" is not; anything else is
  the official `None`: that question counts as not followed and the instruction's remaining
  questions are not asked (evaluation.py's early stop);
- DRFR is evaluation.py's `bool_ratio`: True answers over all recorded answers (a None counts,
  as not true; questions left unasked after an early stop are not counted), over the scored
  instructions, overall and per subset (Easy_set / Hard_set) as the paper reports, and per
  question label in the breakdown.

Because question k needs the judge's replies to questions < k, the questions are asked in rounds:
round k sends question k of every instruction still going, in parallel, through the judge seam,
which caches each conversation prefix. A judge call that fails (transport error, empty reply) fails
its instruction: counted, left out of the metrics, asked again by a rerun. The official script
retries such a call forever instead; an empty reply, which it would read as None, is a failure
here as for every judged suite.

The model under test is asked `instruction + "\\n" + input` (the instruction alone when the input
is empty); InFoBench's repository has no generation code, so this is the common convention.

`--judge-parse-retries N` (an explicit option, recorded in the run; such runs are not compared
with default ones) re-asks an unclear reply up to N times instead of the early stop; a reply still
unclear then fails its instruction.

Data: only on the HF hub (dataset `kqsong/InFoBench`, file InfoBench.json, JSON Lines): a local
copy through --data-dir (the file or a folder holding it), else the hub when online.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from harness import data
from harness.backends import Completion, SamplingParams
from harness.errors import HarnessError
from harness.judges import ParseError, Rubric
from harness.suites.base import Contribution, Generation, Metric, Suite, SuiteResult

HUB = "kqsong/InFoBench"
FILE = "InfoBench.json"
FIELDS = ("id", "input", "instruction", "decomposed_questions", "subset")
SUBSETS = {"Easy_set": "drfr_easy", "Hard_set": "drfr_hard"}
WHERE = (
    f"InFoBench is only on the HF hub: download {FILE} from the dataset {HUB} "
    f"(`huggingface-cli download {HUB} {FILE} --repo-type dataset --local-dir DIR`) and pass "
    "--data-dir DIR (or the file)"
)

# evaluation.py's SYS_MSG as it is at 557fba025e (typos fixed in d47415e); the value really ends
# with three single quotes
SYS_MSG = (
    "Based on the provided Input (if any) and Generated Text, answer the ensuing Questions with "
    "either a YES or NO choice. Your selection should be based on your judgment as well as the "
    "following rules:\n\n- YES: Select 'YES' if the generated text entirely fulfills the condition "
    "specified in the question. However, note that even minor inaccuracies exclude the text from "
    "receiving a 'YES' rating. As an illustration. consider a question that asks. \"Does each "
    "sentence in the generated text use a second person?\u201d If even one sentence does not use "
    "the second person, the answer should NOT be 'YES'. To qualify for a 'YES' rating, the "
    "generated text must be entirely accurate and relevant to the question\n\n- NO: Opt for 'NO' if "
    "the generated text fails to meet the question's requirements or provides no information that "
    'could be utilized to answer the question. For instance, if the question asks. "Is the second '
    'sentence in the generated text a compound sentence?" and the generated text only has one '
    "sentence. it offers no relevant information to answer the question. Consequently, the answer "
    "should be 'NO'.'''"
)

# evaluation.py: client.chat.completions.create(model=eval_model, messages=message,
# temperature=temperature) with temperature 0: no max_tokens, top_p, seed or n
SAMPLING = SamplingParams(max_new_tokens=None, temperature=0.0, top_p=None, seed=None, n=None)


def read_answer(text: str) -> bool | None:
    """evaluation.py's reading of a judge reply: True (Yes), False (No) or None (unclear)."""
    low = text.lower()
    if low.startswith("yes") or low.startswith("no"):
        return low.startswith("yes")
    if "YES" in text and "NO" not in text:
        return True
    if "YES" not in text and "NO" in text:
        return False
    return None


def _parse(c: Completion) -> dict:
    answer = read_answer(c.text)
    return {"value": None if answer is None else float(answer), "answer": answer}


def _parse_or_reask(c: Completion) -> dict:
    """With --judge-parse-retries: an unclear reply is asked again instead of stopping."""
    parsed = _parse(c)
    if parsed["answer"] is None:
        raise ParseError("neither a YES nor a NO answer")
    return parsed


RUBRIC = Rubric("infobench-decomposed-yes-no", SAMPLING, _parse)
REASK_RUBRIC = Rubric("infobench-decomposed-yes-no-reask", SAMPLING, _parse_or_reask)


def judge_turn(item: dict, output: str, k: int) -> dict:
    """The user turn that asks decomposed question k (0-based) about `output`."""
    question = item["decomposed_questions"][k]
    if k:
        content = f"{question}\n"
    elif item["input"]:
        content = (
            f'{SYS_MSG}\n\nInput:\n"{item["input"]}"\n\nGenerated Text:\n"{output}"\n\n'
            f"Question:\n{question}\n"
        )
    else:
        content = f'{SYS_MSG}\n\nGenerated Text:\n"{output}"\n\nQuestion:\n{question}\n'
    return {"role": "user", "content": content}


def model_prompt(item: dict) -> str:
    return f"{item['instruction']}\n{item['input']}" if item["input"] else item["instruction"]


# -- data ---------------------------------------------------------------------------------------


def _validate(rows: list[dict], origin: str) -> list[dict]:
    """Items from InfoBench.json rows; the first bad row is one line naming it."""
    items, seen = [], set()
    for n, r in enumerate(rows, 1):
        where = f"{origin}: row {n}"
        missing = [k for k in FIELDS if k not in r]
        if missing:
            raise HarnessError(f"{where}: missing field(s) {', '.join(missing)}")
        qs, labels = r["decomposed_questions"], r.get("question_label")
        if not isinstance(qs, list) or not qs or not all(isinstance(q, str) and q for q in qs):
            raise HarnessError(f"{where}: decomposed_questions must be a non-empty list of text")
        if not isinstance(r["instruction"], str) or not isinstance(r["input"], str | None):
            raise HarnessError(f"{where}: instruction and input must be text")
        if labels is not None and (not isinstance(labels, list) or len(labels) != len(qs)):
            raise HarnessError(f"{where}: question_label must have one entry per question")
        key = str(r["id"])
        if key in seen:
            raise HarnessError(f"{where}: id {key!r} appears twice")
        seen.add(key)
        items.append(
            {
                "id": key,
                "instruction": r["instruction"],
                "input": r["input"] or "",
                "category": r.get("category"),
                "subset": r["subset"],
                "decomposed_questions": list(qs),
                "question_label": [
                    [lab] if isinstance(lab, str) else list(lab or []) for lab in labels
                ]
                if labels is not None
                else [[] for _ in qs],
            }
        )
    return items


def _read_rows(path: Path) -> list[dict]:
    """JSON Lines (the hub file), or one JSON array of the same objects."""
    text = data.read_text(path, "InFoBench data file")
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise HarnessError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
        if not rows or not all(isinstance(r, dict) for r in rows):
            raise HarnessError(f"{path}: expected a non-empty list of JSON objects")
        return rows
    return data.read_jsonl(path)


def _from_path(path: Path) -> list[dict]:
    file = path / FILE if path.is_dir() else path
    if not file.is_file():
        raise HarnessError(f"no {FILE} in {path}; {WHERE}")
    return _validate(_read_rows(file), str(file))


def _from_hub() -> list[dict]:
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(HUB, FILE, repo_type="dataset")
    except Exception as e:  # noqa: BLE001 - any hub failure is one line
        raise HarnessError(
            f"can't download {FILE} from {HUB}: {type(e).__name__}; {WHERE}"
        ) from None
    return _validate(_read_rows(Path(path)), f"{HUB}/{FILE}")


# -- scoring ------------------------------------------------------------------------------------


def drfr(records: list[dict]) -> float | None:
    """bool_ratio: True answers over all recorded answers of the given (scored) records."""
    answers = [a for r in records for a in r["eval"]]
    return sum(a is True for a in answers) / len(answers) if answers else None


class InFoBench(Suite):
    name = "infobench"
    version = "1"
    generation = Generation(
        2048, 0.0, "InFoBench publishes no generation code: greedy, 2048 new tokens"
    )
    metrics = (  # stored as fractions, shown as percent (DRFR x 100, as the paper and Conifer)
        Metric("drfr", "InFoBench DRFR", 100.0, "%"),
        Metric("drfr_easy", "easy", 100.0, "%"),
        Metric("drfr_hard", "hard", 100.0, "%"),
    )
    paired_test = "bootstrap"
    unit = "items"  # a failed judge call fails its instruction
    default_judge = "gpt-4-0314"  # evaluation.py's default --model

    def load(self, data_dir=None) -> list[dict]:
        given = Path(data_dir).expanduser() if data_dir else None
        if given is not None and given.is_file():
            return self._loaded(_from_path(given), str(given))
        folder = data.local_dir(data_dir, "infobench")
        if folder is not None and (given is not None or (folder / FILE).is_file()):
            return self._loaded(_from_path(folder), str(folder))
        # $ECD_HARNESS_DATA roots every suite's data; InFoBench's may be missing from it
        if data.hub_reachable():
            return self._loaded(_from_hub(), "hub")
        where = f" ({folder} has no {FILE})" if folder is not None else ""
        raise HarnessError(f"no infobench data offline{where}; {WHERE}")

    def _loaded(self, items: list[dict], source: str) -> list[dict]:
        self.source = source
        return items

    def prompts(self, item: dict) -> list[str]:
        return [model_prompt(item)]

    def contribution(self, record: dict) -> Contribution:
        answers = record.get("eval")
        if record.get("error") or answers is None:
            return None
        return float(sum(a is True for a in answers)), float(len(answers))

    def run(self, items, ctx) -> SuiteResult:
        if ctx.judge is None:
            raise HarnessError(
                f"infobench needs a judge: pass --judge (default {self.default_judge})"
            )
        completions = ctx.generate(
            [[{"role": "user", "content": model_prompt(it)}] for it in items]
        )
        errors = [None if c.ok else f"generation failed: {c.error}" for c in completions]
        return self.score(items, [c.text for c in completions], ctx.judge, errors)

    def judge_all(self, items, responses, judge, errors) -> list[dict]:
        """Ask every question of every answered item, one round per question index; returns per
        item its conversation, answers, replies and error (if a judge call failed)."""
        rubric = REASK_RUBRIC if self.scoring.judge_parse_retries else RUBRIC
        states = [
            {"messages": [], "eval": [], "replies": [], "error": err, "stopped": False}
            for err in errors
        ]
        rounds = max((len(it["decomposed_questions"]) for it in items), default=0)
        for k in range(rounds):
            going = [
                i
                for i, (it, s) in enumerate(zip(items, states))
                if s["error"] is None and not s["stopped"] and k < len(it["decomposed_questions"])
            ]
            if not going:
                break
            convs = [[*states[i]["messages"], judge_turn(items[i], responses[i], k)] for i in going]
            verdicts = judge.judge(convs, rubric, f"judging infobench question {k + 1}")
            for i, conv, v in zip(going, convs, verdicts):
                s = states[i]
                if not v.ok:
                    s["error"] = f"judge failed on question {k + 1}: {v.error}"
                    continue
                s["messages"] = [*conv, {"role": "assistant", "content": v.output}]
                s["replies"].append(v.output)
                s["eval"].append(v.detail.get("answer"))
                s["stopped"] = v.detail.get("answer") is None
        return states

    def score(self, items, responses, judge=None, errors=None) -> SuiteResult:
        if judge is None:
            raise HarnessError(
                f"infobench needs a judge: pass --judge (default {self.default_judge})"
            )
        errors = list(errors or [None] * len(items))
        states = self.judge_all(items, responses, judge, errors)
        records = []
        for it, response, err, s in zip(items, responses, errors, states):
            rec = {
                "id": it["id"],
                "subset": it["subset"],
                "category": it["category"],
                "response": response if err is None else None,
                "questions": len(it["decomposed_questions"]),
            }
            if s["error"] is not None:
                rec["error"] = s["error"]
            else:
                rec.update(
                    eval=s["eval"],
                    judgments=s["replies"],
                    yes=sum(a is True for a in s["eval"]),
                    stopped_unclear=s["stopped"],
                )
            records.append(rec)
        scored = [r for r in records if "error" not in r]
        metrics, breakdown = self.aggregate(items, scored)
        metrics.update(judge.metrics())
        notes = [judge.summary()]
        if breakdown["unclear_stops"]:
            notes.append(
                f"{breakdown['unclear_stops']} instruction(s) stopped at a judge reply with neither "
                "a clear YES nor NO: that question counts as not followed and the rest were not "
                "asked, as evaluation.py does"
            )
        return SuiteResult(
            metrics,
            records,
            breakdown,
            notes,
            total=len(records),
            failed=len(records) - len(scored),
            unit="items",
        )

    @staticmethod
    def aggregate(items: list[dict], scored: list[dict]) -> tuple[dict, dict]:
        """DRFR overall and per subset (metrics); per question label and what was asked
        (breakdown)."""
        metrics: dict = {}
        overall = drfr(scored)
        if overall is not None:
            metrics["drfr"] = overall
        for subset, key in SUBSETS.items():
            value = drfr([r for r in scored if r["subset"] == subset])
            if value is not None:
                metrics[key] = value
        by_id = {it["id"]: it for it in items}
        labels: dict[str, list[bool | None]] = defaultdict(list)
        subsets: dict[str, list[dict]] = defaultdict(list)
        for r in scored:
            subsets[r["subset"]].append(r)
            for answer, names in zip(r["eval"], by_id[r["id"]]["question_label"]):
                for name in names:
                    labels[name].append(answer)
        questions = sum(r["questions"] for r in scored)
        yes = sum(r["yes"] for r in scored)
        breakdown = {
            "subsets": {
                s: {"items": len(rs), "answers": sum(len(r["eval"]) for r in rs), "drfr": drfr(rs)}
                for s, rs in sorted(subsets.items())
            },
            "labels": {
                name: {"answers": len(a), "drfr": sum(x is True for x in a) / len(a)}
                for name, a in sorted(labels.items())
            },
            "questions": questions,
            "answers": sum(len(r["eval"]) for r in scored),
            "unclear_stops": sum(r["stopped_unclear"] for r in scored),
            # the paper's wording: over every decomposed question, unasked ones not followed
            "drfr_over_all_questions": yes / questions if questions else None,
        }
        return metrics, breakdown

    # -- evaluation.py's files -----------------------------------------------------------------
    def read_responses(self, path: Path, items: list[dict]) -> tuple[list[dict], list[str]]:
        """evaluation.py's input: JSON Lines of InFoBench rows with the response in `output`
        (rows whose output is null are skipped, as evaluation.py does)."""
        by_id = {it["id"]: it for it in items}
        chosen, responses, seen = [], [], set()
        for n, row in enumerate(_read_rows(Path(path)), 1):
            if "id" not in row or "output" not in row:
                raise HarnessError(
                    f'{path}: row {n}: expected InFoBench rows with "id" and "output"'
                )
            key = str(row["id"])
            item = by_id.get(key)
            if item is None:
                raise HarnessError(f"{path}: row {n}: id {key!r} is not an InFoBench instruction")
            if key in seen:
                raise HarnessError(f"{path}: row {n}: id {key!r} appears twice")
            seen.add(key)
            if row["output"] is None:
                continue
            if not isinstance(row["output"], str):
                raise HarnessError(f"{path}: row {n}: output must be text")
            chosen.append(item)
            responses.append(row["output"])
        if not chosen:
            raise HarnessError(f"{path}: no row has an output to score")
        return chosen, responses

    def export(
        self, folder: Path, items: list[dict], result: SuiteResult, model: str, judge: str
    ) -> list[Path]:
        """evaluation.py's input (`<model>_output.json`) and its result file
        (`<judge>/<model>_DecomposeEval.json`, the rows with `eval`)."""
        by_id = {it["id"]: it for it in items}
        safe = lambda s: s.strip("/").replace("/", "--").replace("_", "-")  # noqa: E731
        outputs, evals = [], []
        for rec in result.records:
            if rec.get("response") is None:
                continue
            it = by_id[rec["id"]]
            row = {
                "id": it["id"],
                "input": it["input"],
                "category": it["category"],
                "instruction": it["instruction"],
                "decomposed_questions": it["decomposed_questions"],
                "subset": it["subset"],
                "question_label": it["question_label"],
                "output": rec["response"],
            }
            outputs.append(row)
            if "eval" in rec:
                evals.append({**row, "eval": rec["eval"]})
        paths = [
            folder / f"{safe(model)}_output.json",
            folder / safe(judge) / f"{safe(model)}_DecomposeEval.json",
        ]
        for path, rows in zip(paths, (outputs, evals)):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
            )
            tmp.replace(path)
        return paths
