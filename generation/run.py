"""One `generation run`: check every input, generate through the cache, write all datasets at once."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from generation.config import GenerationConfig
from generation.decontam import build_index
from generation.export import StagedOutput, build, contamination, stats, write_dataset
from generation.pipeline import Chain, generate, make_teacher, teacher_spec
from generation.seeds import load_seeds
from generation.taxonomy import load_taxonomy
from harness.lock import holding
from harness.paths import default_store
from harness.redact import redact_tree
from harness.store import open_store
from harness.suites import suite_names


def _chain_record(ch: Chain) -> dict:
    return {
        "seed_id": ch.seed_id,
        "stop": ch.stop,
        "steps": [
            {**asdict(s), "constraint": asdict(s.constraint) if s.constraint else None}
            for s in ch.steps
        ],
    }


def run(cfg: GenerationConfig, progress: bool = True) -> dict:
    """Generate (or reuse from the store) and export; returns the main dataset's stats."""
    started = time.time()
    cfg.validate()
    spec = teacher_spec(cfg.teacher)  # an unknown model or a broken registry: before any write
    taxonomy = load_taxonomy(cfg.taxonomy).reweighted(cfg.weights)
    exports = {"": cfg.export, **{f"variants/{k}": v for k, v in cfg.variants.items()}}
    for ex in exports.values():
        for name in ex.operations or ():
            taxonomy.resolve(name)
    seeds, origin = load_seeds(cfg.seeds)
    out = Path(cfg.out)
    staged = StagedOutput(out)  # refuses a foreign folder before any model call
    # one writer per folder: a second run's commit would discard the first one's staged files
    with holding(out, "pass another --out"):
        try:
            store = open_store(cfg.store or default_store())
            teacher = make_teacher(spec, cfg.teacher, store, progress)
            index = None
            if cfg.decontaminate.enabled:
                d = cfg.decontaminate
                index = build_index(d.benchmarks or suite_names(), d.ngram, d.data_dir)
            try:
                chains, failures = generate(seeds, taxonomy, teacher, cfg)
            finally:
                teacher.generator.close()
            contaminated = contamination(chains, index, cfg.decontaminate.threshold)
            shared = {
                "teacher": teacher.spec.name,
                "backend": teacher.backend,
                "teacher_options": redact_tree(teacher.options),
                "seeds": {"count": len(seeds), "source": origin},
                "rounds": cfg.rounds,
                "evolution": {
                    "attempted": sum(len(ch.steps) - 1 for ch in chains)
                    + sum(failures.values())
                    - sum(v for k, v in failures.items() if k.endswith("->template")),
                    "evolved": sum(len(ch.steps) - 1 for ch in chains),
                    "by_template": sum(
                        s.evolved_by == "template" for ch in chains for s in ch.steps
                    ),
                    "failed": dict(sorted(failures.items())),
                },
                "decontamination": {
                    "enabled": cfg.decontaminate.enabled,
                    "ngram": cfg.decontaminate.ngram,
                    "threshold": cfg.decontaminate.threshold,
                    "benchmark_prompts": index.prompts if index else {},
                    "skipped": index.skipped if index else {},
                    "dropped": [
                        {"seed_id": sid, "round": k, **m}
                        for (sid, k), m in sorted(contaminated.items())
                    ],
                },
                "usage": teacher.usage(),
                # a base URL's or the store URL's password, a key in backend_options: masked
                # (stats.json goes on to the trained model's provenance)
                "config": redact_tree(json.loads(json.dumps(asdict(cfg)))),
            }
            summary = None
            for sub, ex in exports.items():
                sft, dpo, dropped = build(
                    chains, taxonomy, ex, cfg, teacher.spec.name, contaminated
                )
                for ch in chains:
                    if ch.stop and ch.stop["reason"] != "no_operation_left":
                        dropped[f"evolution_failed:{ch.stop['reason']}"] += 1
                s = {**stats(sft, dpo, dropped, ex), **shared}
                write_dataset(staged.tmp / sub, sft, dpo, s, ex.sft_only)
                summary = summary or s
            with open(staged.tmp / "chains.jsonl", "w", encoding="utf-8") as f:
                for ch in chains:
                    f.write(json.dumps(_chain_record(ch), ensure_ascii=False) + "\n")
            staged.commit()
        except BaseException:
            staged.discard()
            raise
        if progress:
            u = summary["usage"]
            print(
                f"wrote {out}: {summary['counts']['sft']} SFT rows, {summary['counts']['dpo']} DPO pairs "
                f"from {len(seeds)} seeds; {u['this_run']['calls']} calls made, "
                f"{u['this_run']['from_store']} from the store, {u['prompt_tokens']}+"
                f"{u['completion_tokens']} tokens, ${u['cost_usd']:.4f}; {time.time() - started:.0f}s",
                file=sys.stderr,
            )
        return summary
