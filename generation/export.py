"""Datasets from a run's chains: SFT `messages` and TRL conversational DPO pairs, with provenance.

One run gives several datasets (the paper's ablations) without another model call: hard or random
negatives, SFT only, rounds 0..k, a subset of operations. Everything lands in a temporary folder
that is renamed into place at the end, so a failure never leaves half a dataset.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import tempfile
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path

from generation.config import ExportConfig, GenerationConfig
from generation.decontam import Index, ngrams, words
from generation.pipeline import Chain, Step
from generation.taxonomy import Taxonomy
from generation.verify import check_record, follows
from harness.errors import HarnessError
from harness.validate import check_writable


def contamination(chains: list[Chain], index: Index | None, threshold: float) -> dict:
    """(seed id, round) -> benchmark match for instructions over the overlap threshold."""
    found = {}
    if index is None:
        return found
    for ch in chains:
        for step in ch.steps:
            boiler = set().union(
                *(ngrams(words(c.description), index.n) for _, c in ch.constraints(step.round))
            )
            m = index.match(step.instruction, boiler)
            if m and m["overlap"] >= threshold:
                found[(ch.seed_id, step.round)] = m
    return found


class _Verifier:
    """IFEval verdicts, computed once per (chain, round, response)."""

    def __init__(self) -> None:
        self.memo: dict[tuple, list[bool]] = {}

    def __call__(self, ch: Chain, step: Step, response: str, tag: str) -> list[bool]:
        key = (ch.seed_id, step.round, tag)
        if key not in self.memo:
            constraints = [c for _, c in ch.constraints(step.round)]
            self.memo[key] = follows(
                f"{ch.seed_id}:{step.round}", step.instruction, response, constraints
            )
        return self.memo[key]


def _verification(
    ch: Chain, step: Step, chosen: list[bool], rejected: list[bool] | None, judged: bool
) -> dict:
    constraints = ch.constraints(step.round)
    checks = [
        check_record(c, r, ok, rejected[i] if rejected is not None else None)
        for i, ((r, c), ok) in enumerate(zip(constraints, chosen))
    ]
    if step.constraint is not None:
        method = "ifeval"
        new_rejected = rejected[-1] if rejected is not None else False
        passed = all(chosen) and not new_rejected
    elif judged:
        method = "judge"
        passed = (
            None
            if step.judge_chosen is None or (rejected is not None and step.judge_rejected is None)
            else all(chosen) and step.judge_chosen and (rejected is None or not step.judge_rejected)
        )
    elif constraints:
        method, passed = "ifeval", all(chosen) if rejected is None else None
    else:
        method, passed = "none", None
    judge = {
        "chosen": step.judge_chosen,
        "rejected": step.judge_rejected if rejected is not None else None,
    }
    return {"method": method, "passed": passed, "checks": checks, "judge": judge}


def build(
    chains: list[Chain],
    taxonomy: Taxonomy,
    ex: ExportConfig,
    cfg: GenerationConfig,
    teacher: str,
    contaminated: dict,
) -> tuple[list[dict], list[dict], Counter]:
    """SFT rows, DPO rows and why other items were left out."""
    allowed = (
        {i for name in ex.operations for i in taxonomy.resolve(name)} if ex.operations else None
    )
    max_round = cfg.rounds if ex.max_round is None else ex.max_round
    verify = _Verifier()
    pool = [
        (ch.seed_id, s.response)
        for ch in chains
        for s in ch.steps
        if s.response is not None and (ch.seed_id, s.round) not in contaminated
    ]
    sft, dpo, dropped = [], [], Counter()
    for ch in chains:
        for k, step in enumerate(ch.steps):
            if k > max_round or (k and allowed is not None and step.operation not in allowed):
                continue
            if step.response is None:
                dropped["response_failed"] += 1
                continue
            if (ch.seed_id, k) in contaminated:
                dropped[f"contaminated:{contaminated[(ch.seed_id, k)]['benchmark']}"] += 1
                continue
            provenance = {
                "seed_id": ch.seed_id,
                "round": k,
                "operation": step.operation,
                "teacher": teacher,
            }
            chosen = verify(ch, step, step.response, "chosen")
            v = _verification(ch, step, chosen, None, cfg.verify.judge and k > 0)
            if cfg.verify.drop_failed and v["passed"] is False:
                dropped["verification_failed:sft"] += 1
            else:
                sft.append(
                    {
                        "messages": [
                            {"role": "user", "content": step.instruction},
                            {"role": "assistant", "content": step.response},
                        ],
                        **provenance,
                        "verification": v,
                    }
                )
            if k == 0 or ex.sft_only:
                continue
            if ex.negatives == "hard":
                rejected = ch.steps[k - 1].response
                tag = "hard"
            else:
                others = [r for sid, r in pool if sid != ch.seed_id]
                rng = random.Random(f"{cfg.seed}:random-negative:{ch.seed_id}:{k}")
                rejected = rng.choice(others) if others else None
                tag = "random"
            if rejected is None:
                dropped["response_failed"] += 1
                continue
            if rejected == step.response:  # no contrast: DPO would learn nothing from it
                dropped["identical_responses"] += 1
                continue
            judged = cfg.verify.judge and ex.negatives == "hard"  # judged pairs are R(k), R(k-1)
            v = _verification(ch, step, chosen, verify(ch, step, rejected, tag), judged)
            if cfg.verify.drop_failed and v["passed"] is False:
                dropped["verification_failed:dpo"] += 1
                continue
            dpo.append(
                {
                    "prompt": [{"role": "user", "content": step.instruction}],
                    "chosen": [{"role": "assistant", "content": step.response}],
                    "rejected": [{"role": "assistant", "content": rejected}],
                    **provenance,
                    "verification": v,
                }
            )
    return sft, dpo, dropped


def _summary(values: list[int]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values), 2),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def stats(sft: list[dict], dpo: list[dict], dropped: Counter, ex: ExportConfig) -> dict:
    per_op: dict[str, Counter] = defaultdict(Counter)
    per_round: dict[str, Counter] = defaultdict(Counter)
    for kind, rows in (("sft", sft), ("dpo", dpo)):
        for r in rows:
            per_op[r["operation"] or "seed"][kind] += 1
            per_round[str(r["round"])][kind] += 1
    verification: dict = {}
    for kind, rows in (("sft", sft), ("dpo", dpo)):
        verdicts = [
            r["verification"]["passed"] for r in rows if r["verification"]["passed"] is not None
        ]
        by_method = Counter(r["verification"]["method"] for r in rows)
        verification[kind] = {
            "checked": len(verdicts),
            "passed": sum(verdicts),
            "pass_rate": round(sum(verdicts) / len(verdicts), 4) if verdicts else None,
            "by_method": dict(sorted(by_method.items())),
        }
    per_inst: dict[str, Counter] = defaultdict(Counter)
    for r in dpo:
        for c in r["verification"]["checks"]:
            if c["round"] == r["round"]:  # the constraint this pair contrasts
                per_inst[c["instruction_id"]]["n"] += 1
                per_inst[c["instruction_id"]]["chosen_follows"] += c["chosen"]
                per_inst[c["instruction_id"]]["rejected_follows"] += bool(c["rejected"])
    verification["per_instruction"] = {k: dict(v) for k, v in sorted(per_inst.items())}
    return {
        "export": asdict(ex),
        "counts": {"sft": len(sft), "dpo": len(dpo)},
        "per_operation": {k: dict(v) for k, v in sorted(per_op.items())},
        "per_round": {k: dict(v) for k, v in sorted(per_round.items(), key=lambda kv: int(kv[0]))},
        "lengths_words": {
            "instruction": _summary([len(r["messages"][0]["content"].split()) for r in sft]),
            "chosen": _summary([len(r["chosen"][0]["content"].split()) for r in dpo]),
            "rejected": _summary([len(r["rejected"][0]["content"].split()) for r in dpo]),
            "sft_response": _summary([len(r["messages"][1]["content"].split()) for r in sft]),
        },
        "verification": verification,
        "dropped": dict(sorted(dropped.items())),
    }


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_dataset(
    folder: Path, sft: list[dict], dpo: list[dict], summary: dict, sft_only: bool
) -> None:
    """sft.jsonl, dpo.jsonl, the same as HF datasets on disk (sft/, dpo/), and stats.json."""
    import datasets

    datasets.disable_progress_bars()  # one bar per tiny shard is noise; the run has its own
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("sft", sft), *(() if sft_only else (("dpo", dpo),))):
        _write_jsonl(folder / f"{name}.jsonl", rows)
        datasets.Dataset.from_list(rows).save_to_disk(str(folder / name))
    (folder / "stats.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")


def check_out_dir(out: Path) -> None:
    """Refuse, before any work, to replace a folder that is not an earlier export."""
    if out.exists() and (
        not out.is_dir() or any(out.iterdir()) and not (out / "stats.json").exists()
    ):
        raise HarnessError(
            f"output {out} exists and is not an ECD export; pass --out with a new or export folder"
        )


class StagedOutput:
    """A temporary folder beside `out`, made when first written and renamed over `out` by `commit`.

    A run killed before `commit` leaves at most a hidden staging folder, removed by the next commit.
    """

    def __init__(self, out: Path) -> None:
        check_out_dir(out)
        check_writable(out, "--out")
        self.out = out
        self._tmp: Path | None = None

    @property
    def tmp(self) -> Path:
        if self._tmp is None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = Path(tempfile.mkdtemp(dir=self.out.parent, prefix=f".{self.out.name}.tmp-"))
        return self._tmp

    def commit(self) -> None:
        check_out_dir(self.out)  # nothing foreign appeared there meanwhile
        old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
        if self.out.exists():
            os.replace(self.out, old)
        os.replace(self.tmp, self.out)
        for stale in (old, *self.out.parent.glob(f".{self.out.name}.tmp-*")):
            shutil.rmtree(stale, ignore_errors=True)

    def discard(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
