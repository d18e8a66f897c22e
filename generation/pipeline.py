"""The ECD run: seeds -> K rounds of evolution -> teacher responses -> (judge) -> export.

Every model call goes through harness.runner.CachedGenerator: completions are committed to the
store as they arrive, so a killed run resumes with only the missing calls, and a rerun with other
export settings (variants) costs nothing. All randomness is seeded per (run seed, seed id, round),
so which operation a chain gets never depends on the order in which calls finish.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field, fields

from generation.config import GenerationConfig, TeacherConfig
from generation.evolve import clean, evolve_prompt, failure, scaffold
from generation.seeds import Seed
from generation.taxonomy import Constraint, Taxonomy, conflicts
from generation.verify import judge_conversation, parse_judge
from harness.backends import (
    PRICES,
    Completion,
    SamplingParams,
    Usage,
    fingerprint_for,
    get_backend,
    make_backend,
    resolve_options,
)
from harness.errors import HarnessError
from harness.registry import ModelSpec, load_registry, resolve_model
from harness.runner import CachedGenerator
from harness.store import Store

NAMESPACE = "ecd-generation@1"


@dataclass
class Step:
    round: int
    instruction: str
    operation: str | None = None
    constraint: Constraint | None = None
    evolved_by: str = "seed"  # "seed", "evolver" or "template" (constraint appended by rule)
    response: str | None = None
    response_error: str | None = None
    judge_chosen: bool | None = None  # judge verdicts on R(k) and R(k-1) for I(k)
    judge_rejected: bool | None = None


@dataclass
class Chain:
    seed_id: str
    steps: list[Step]
    stop: dict | None = None  # the failed evolution that ended the chain early

    def constraints(self, k: int) -> list[tuple[int, Constraint]]:
        """Checkable constraints that I(k) carries, with the round that added each."""
        return [(s.round, s.constraint) for s in self.steps[1 : k + 1] if s.constraint]


@dataclass
class Teacher:
    """The teacher model behind a cached generator, with token and cost accounting."""

    spec: ModelSpec
    backend: str
    generator: CachedGenerator
    cfg: TeacherConfig
    options: dict  # every backend option it runs with: given, else the registry's, else default
    used: Usage = field(default_factory=Usage)  # the completions the dataset uses, cached or not

    def __call__(self, conversations, params: SamplingParams, desc: str) -> list[Completion]:
        out = self.generator(conversations, params, desc)
        for c in out:
            if c.ok:
                self.used.add(c)
        return out

    def price(self) -> tuple[float, float]:
        """The configured price, else the harness's for the model (PRICES), else nothing."""
        listed = PRICES.get(self.spec.source, (0.0, 0.0))
        configured = (self.cfg.price_prompt_per_mtok, self.cfg.price_completion_per_mtok)
        return tuple(c if c is not None else p for c, p in zip(configured, listed))

    def usage(self) -> dict:
        """Tokens and cost of every call the dataset uses (cached or not), and of this run's."""
        fresh = self.generator.usage
        return {
            "calls": self.used.calls,
            "prompt_tokens": self.used.prompt_tokens,
            "completion_tokens": self.used.completion_tokens,
            "cost_usd": self.used.cost(self.price()),
            "this_run": {
                "calls": fresh.calls,
                "failed_calls": fresh.failed,
                "from_store": fresh.cached,
                "prompt_tokens": fresh.prompt_tokens,
                "completion_tokens": fresh.completion_tokens,
                "cost_usd": fresh.cost(self.price()),
            },
        }


def teacher_spec(cfg: TeacherConfig) -> ModelSpec:
    """A registry entry, checkpoint or hub id; with --backend openai also any served model name."""
    load_registry()  # a broken registry file is an error even when the teacher is a served name
    try:
        spec = resolve_model(cfg.model)
    except HarnessError:
        if cfg.backend != "openai":
            raise
        return ModelSpec(name=cfg.model, source=cfg.model, backend="openai", base_url=cfg.base_url)
    return spec


def backend_options(cfg: TeacherConfig, backend: str) -> dict:
    """The options the config gives the teacher's backend: its fields named as one of the
    backend's options, then `backend_options` (checked when the backend is identified)."""
    kind = get_backend(backend)
    named = {f.name: getattr(cfg, f.name) for f in fields(cfg) if kind.takes(f.name)}
    return {**named, **cfg.backend_options}


def make_teacher(spec: ModelSpec, cfg: TeacherConfig, store: Store, progress: bool) -> Teacher:
    backend = cfg.backend or spec.backend
    options = backend_options(cfg, backend)
    generator = CachedGenerator(
        store,
        # an endpoint's identity includes its URL; a missing API key or a dead endpoint fails now
        fingerprint_for(spec, backend, **options),
        NAMESPACE,
        lambda: make_backend(spec, backend, **options),
        progress,
    )
    return Teacher(spec, backend, generator, cfg, resolve_options(spec, backend, options))


def _params(s, seed: int) -> SamplingParams:
    return SamplingParams(
        max_new_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p, seed=seed
    )


def evolve(
    seeds: list[Seed],
    taxonomy: Taxonomy,
    teacher: Teacher,
    cfg: GenerationConfig,
    fallback: bool,
    failures: dict[str, int],
) -> list[Chain]:
    """K rounds, batched across seeds; a failed evolution stops its chain."""
    chains = [Chain(s.id, [Step(0, s.instruction)]) for s in seeds]
    params = _params(cfg.evolve, cfg.seed)
    for k in range(1, cfg.rounds + 1):
        active, plans = [], []
        for chain in chains:
            if chain.stop or len(chain.steps) < k:
                continue
            rng = random.Random(f"{cfg.seed}:{chain.seed_id}:{k}")
            excluded = set().union(*(conflicts(c.instruction_id) for _, c in chain.constraints(k)))
            op = taxonomy.sample(rng, excluded)
            if op is None:
                chain.stop = {"round": k, "reason": "no_operation_left"}
                continue
            active.append(chain)
            plans.append((op, op.sample_constraint(rng)))
        if not active:
            break
        conversations = [
            [{"role": "user", "content": evolve_prompt(taxonomy, op, c, ch.steps[-1].instruction)}]
            for ch, (op, c) in zip(active, plans)
        ]
        for chain, (op, constraint), comp in zip(
            active, plans, teacher(conversations, params, f"evolve round {k}/{cfg.rounds}")
        ):
            before = chain.steps[-1].instruction
            rewrite = clean(comp.text)
            reason = failure(before, comp, rewrite, op, constraint, scaffold(taxonomy, op))
            by = "evolver"
            if reason and reason != "call_error" and fallback and constraint is not None:
                rewrite, by = f"{before.rstrip()} {constraint.description}", "template"
                failures[f"{reason}->template"] = failures.get(f"{reason}->template", 0) + 1
            elif reason:
                failures[reason] = failures.get(reason, 0) + 1
                chain.stop = {
                    "round": k,
                    "operation": op.id,
                    "reason": reason,
                    "text": comp.text if comp.ok else comp.error,
                }
                continue
            chain.steps.append(Step(k, rewrite, op.id, constraint, by))
    return chains


def respond(chains: list[Chain], teacher: Teacher, cfg: GenerationConfig) -> None:
    steps = [s for ch in chains for s in ch.steps]
    conversations = [[{"role": "user", "content": s.instruction}] for s in steps]
    for step, comp in zip(steps, teacher(conversations, _params(cfg.respond, cfg.seed), "respond")):
        step.response, step.response_error = (comp.text, None) if comp.ok else (None, comp.error)


def judge(chains: list[Chain], teacher: Teacher, cfg: GenerationConfig) -> None:
    """Judge verdicts on R(k) and R(k-1) against I(k) where no rule can check the operation."""
    jobs = []
    for ch in chains:
        for prev, step in zip(ch.steps, ch.steps[1:]):
            if step.constraint is None and step.response and prev.response:
                jobs += [
                    (step, "judge_chosen", step.response),
                    (step, "judge_rejected", prev.response),
                ]
    if not jobs:
        return
    conversations = [judge_conversation(step.instruction, r) for step, _, r in jobs]
    params = SamplingParams(max_new_tokens=8, temperature=0.0, seed=cfg.seed)
    for (step, attr, _), comp in zip(jobs, teacher(conversations, params, "judge")):
        setattr(step, attr, parse_judge(comp.text) if comp.ok else None)


def generate(
    seeds: list[Seed], taxonomy: Taxonomy, teacher: Teacher, cfg: GenerationConfig
) -> tuple[list[Chain], dict[str, int]]:
    fallback = cfg.evolve_fallback
    if fallback is None:
        fallback = teacher.spec.group == "embedded"
        if fallback:
            print(
                "note: the embedded teacher is too small to rewrite instructions reliably; where its "
                "rewrite fails, checkable operations append the constraint instead "
                "(evolve_fallback: false turns this off)",
                file=sys.stderr,
            )
    failures: dict[str, int] = {}
    chains = evolve(seeds, taxonomy, teacher, cfg, fallback, failures)
    respond(chains, teacher, cfg)
    if cfg.verify.judge:
        judge(chains, teacher, cfg)
    return chains, failures
