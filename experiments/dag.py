"""The experiment as a DAG: generate -> train each ECD model -> evaluate each model x suite ->
leaderboard -> report. Every node is addressed by its inputs (the generation settings and teacher
identity; recipe digest and data; model identity, suite version, data, items, sampling, judge), so
"is it done" is one store lookup, and a changed input makes exactly the nodes downstream of it new.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, field

from experiments.estimate import TRAINER, Estimate, Rate, calls, price, rate, tokens, training
from experiments.spec import ExperimentSpec, eval_options
from harness.comparability import digest
from harness.errors import HarnessError
from harness.registry import ModelSpec, load_registry, resolve_model
from harness.suites import get_suite

KINDS = ("generate", "train", "evaluate", "leaderboard", "report")


@dataclass
class Node:
    id: str
    kind: str
    deps: list[str]
    inputs: dict  # everything the output depends on: the node's address
    estimate: Estimate = field(default_factory=Estimate)
    gpus: int = 0
    processes: int = 1  # a training step's ranks (accelerate launch): its gpus, on CPU too
    model: str | None = None
    suite: str | None = None
    unknown: str | None = None  # why the address can't be known yet (identity needs the network)

    @property
    def key(self) -> str:
        return digest({"kind": self.kind, **self.inputs})


@dataclass
class Plan:
    spec: ExperimentSpec
    nodes: dict[str, Node]

    def order(self) -> list[Node]:
        """Topological: every node after its dependencies (nodes are built in that order)."""
        return list(self.nodes.values())

    def evals(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "evaluate"]


def _rate(spec: ExperimentSpec, work: str, engine: str) -> Rate | str:
    return rate(spec.estimate.device, work, engine, spec.estimate.rates)


def _params_b(model: ModelSpec) -> float | None:
    """The model's size; a hub id the registry knows by source (a recipe's base model) too."""
    if model.params_b is not None:
        return model.params_b
    known = [m.params_b for m in load_registry().values() if m.source == model.source]
    return known[0] if known else None


def _sampling_spec(spec: ExperimentSpec, name: str) -> ModelSpec:
    """The registry entry a model is evaluated with; for an ECD model not trained yet, the one
    its recipe will register."""
    if name in spec.training:
        recipe = spec.recipe(name)
        base = resolve_model(recipe.base_model) if recipe.base_model else None
        return ModelSpec(
            name=name,
            source=str(spec.out_dir / "models" / name),
            params_b=_params_b(base) if base else None,
            group="ecd",
            backend=recipe.register.backend,
            chat_template=recipe.register.chat_template,
            sampling=dict(recipe.register.sampling),
        )
    return resolve_model(name)


def _identity(model: ModelSpec, options: dict) -> tuple[str | None, str | None]:
    """The model's identity as the harness computes it (weights hash, hub commit, endpoint), or
    why it can't be had here (a hub id offline, an endpoint down): checked again at run time."""
    from harness.backends import fingerprint_for

    try:
        return fingerprint_for(model, model.backend, **options), None
    except HarnessError as e:
        return None, str(e)


def _generate(spec: ExperimentSpec) -> tuple[Node, int]:
    """The generation node, and how many seeds it evolves (for the training estimates)."""
    from generation.pipeline import backend_options, teacher_spec
    from generation.seeds import load_seeds

    cfg = spec.generation_config()
    teacher = teacher_spec(cfg.teacher)
    backend = cfg.teacher.backend or teacher.backend
    options = backend_options(cfg.teacher, backend)
    identity, unknown = _identity(
        ModelSpec(**{**asdict(teacher), "backend": backend}), dict(options)
    )
    settings = asdict(cfg)
    for owned in ("out", "store"):
        settings.pop(owned)
    try:
        seeds = load_seeds(cfg.seeds)[0]
        n, seed_tokens = len(seeds), sum(tokens(s.instruction) for s in seeds)
    except HarnessError as e:  # hub seeds offline: estimate from the limit alone
        n, seed_tokens = cfg.seeds.limit or 0, 0
        unknown = unknown or str(e)
    k = cfg.rounds
    # each round evolves every chain once and answers it; round 0 answers the seed; every
    # instruction grows by a constraint per round (~30 tokens) and prompts carry a template
    n_evolve, n_respond = n * k, n * (k + 1)
    prompt = (seed_tokens + 30 * k) * (k + 1) + 300 * (n_evolve + n_respond)
    local = teacher.is_local or backend in ("hf", "vllm")
    speed, name, size = _rate(spec, "generate", backend), teacher.name, _params_b(teacher)
    evolve = calls(speed, name, size, n_evolve, prompt // 2, cfg.evolve.max_new_tokens, local)
    respond = calls(speed, name, size, n_respond, prompt // 2, cfg.respond.max_new_tokens, local)
    est = evolve + respond
    est.basis = f"{n} seeds x {k} rounds; {evolve.basis}"
    inputs = {"settings": settings, "teacher": identity or f"unknown:{teacher.source}"}
    return Node("generate", "generate", [], inputs, est, unknown=unknown), n


def _train(spec: ExperimentSpec, name: str, gen: Node, n_seeds: int) -> Node:
    t = spec.training[name]
    recipe = spec.recipe(name)
    settings = {k: v for k, v in recipe.as_dict().items() if k not in ("name", "dataset")}
    settings["dataset"] = {k: v for k, v in asdict(recipe.dataset).items() if k != "path"}
    variant = asdict(spec.variants[t.data]) if t.data != "main" else "main"
    base = resolve_model(recipe.base_model)
    base_id, unknown = _identity(base, dict(base.backend_options))
    # what the ECD export writes for each stage: (rows, sequences a row trains on); one SFT row
    # per instruction version, one DPO pair (chosen and rejected) per evolution step
    rounds = spec.generation_config().rounds
    export = {"sft": (n_seeds * (rounds + 1), 1), "dpo": (n_seeds * rounds, 2)}
    seen = 0
    for stage in recipe.stages:
        if stage not in export:  # a stage the export writes no file for: say so, not KeyError
            raise HarnessError(
                f"{spec.origin}: training.{name}: the ECD export writes no rows for stage "
                f"{stage!r} (it writes {', '.join(export)}); train it on data of its own"
            )
        rows, sequences = export[stage]
        s = recipe.settings(stage)
        n = min(rows, recipe.dataset.max_samples or rows)
        per_step = (
            s.global_batch_size or s.per_device_train_batch_size * s.gradient_accumulation_steps
        )
        steps = s.max_steps if s.max_steps > 0 else math.ceil(s.num_train_epochs * n / per_step)
        seen += steps * per_step * (s.max_length or 2048) * sequences
    est = training(_rate(spec, "train", TRAINER), _params_b(base), seen)
    est.basis = f"at most {seen:,} tokens ({' + '.join(recipe.stages)}); {est.basis}"
    return Node(
        f"train:{name}",
        "train",
        [gen.id],
        {
            "recipe": settings,
            "base": base_id or f"unknown:{base.source}",
            "variant": variant,
            "data": gen.key,
        },
        est,
        gpus=t.gpus if spec.estimate.device == "gpu" else 0,
        processes=max(t.gpus, 1),
        model=name,
        unknown=unknown,
    )


def _evaluate(spec: ExperimentSpec, name: str, suite_name: str, trained: Node | None) -> Node:
    """The node of one model x suite: its key is the model's identity and the harness's own
    prepared run key (`harness.api.prepare`), so it is the run's comparability key exactly."""
    from harness.api import prepare

    e = spec.evaluation
    node_id = f"evaluate:{name}:{suite_name}"
    deps = [trained.id] if trained else []
    try:
        suite, data = _suite_data(suite_name, e.data_dir)
        run = prepare(_sampling_spec(spec, name), suite, eval_options(e), data=data)
    except HarnessError as why:  # e.g. a hub-only suite offline: plan the rest, say why
        inputs = {"model": name, "suite": suite_name, "data": None}
        return Node(
            node_id, "evaluate", deps, inputs, model=name, suite=suite_name, unknown=str(why)
        )
    model, items = run.model, run.items
    unknown = None
    if trained:  # not trained yet: its identity is the training node's
        model.fingerprint = f"trained:{trained.key}"
    try:
        run.identify()
    except HarnessError as why:  # a hub id offline, an endpoint down: checked again at run time
        unknown = str(why)
    prompts = [p for it in items for p in suite.prompts(it)]
    prompt_tokens = sum(map(tokens, prompts))
    max_new = run.params.max_new_tokens or 2048
    device = spec.estimate.device
    local = model.spec.is_local or trained is not None or model.backend in ("hf", "vllm")
    est = calls(
        _rate(spec, "generate", model.backend),
        model.spec.source,
        _params_b(model.spec),
        len(prompts),
        prompt_tokens,
        max_new,
        local,
    )
    if run.judge_name:
        # a judgment reads the question, the answer and the judge's instructions (~400 tokens)
        judged_tokens = prompt_tokens + len(prompts) * (max_new + 400)
        est.judge_calls = len(prompts)
        est.prompt_tokens += judged_tokens
        est.completion_tokens += len(prompts) * 256
        est.cost_usd += price(run.judge_name, judged_tokens, len(prompts) * 256)
    est.basis = f"{len(items)} items, {len(prompts)} prompts; {est.basis}"
    options = model.backend_options
    tp = int(options.get("tensor_parallel_size") or 1) * int(options.get("data_parallel_size") or 1)
    return Node(
        node_id,
        "evaluate",
        deps,
        {
            "model": model.fingerprint or f"unknown:{model.spec.source}",
            "backend": model.backend,
            "run": run.key(),
        },
        est,
        gpus=tp if device == "gpu" and local else 0,
        model=name,
        suite=suite_name,
        unknown=unknown,
    )


@functools.cache
def _suite_data(name: str, data_dir: str | None):
    """A suite and its items, loaded once per plan for all the models it scores."""
    suite = get_suite(name)
    return suite, suite.load(data_dir)


def build_plan(spec: ExperimentSpec) -> Plan:
    nodes: dict[str, Node] = {}

    def add(node: Node) -> Node:
        nodes[node.id] = node
        return node

    gen, n_seeds = _generate(spec)
    add(gen)
    trained = {name: add(_train(spec, name, gen, n_seeds)) for name in spec.training}
    evals = [
        add(_evaluate(spec, model, suite, trained.get(model)))
        for suite in spec.evaluation.suites
        for model in spec.compared
    ]
    keys = [n.key for n in evals]
    board = add(Node("leaderboard", "leaderboard", [n.id for n in evals], {"evals": keys}))
    roles = {
        "baselines": spec.models.baselines,
        "ecd": spec.ecd,
        "references": spec.models.references,
    }
    report = {**asdict(spec.report), **roles}
    add(Node("report", "report", [board.id], {"evals": keys, "report": report}))
    return Plan(spec, nodes)


def describe(node: Node) -> str:
    """The node's inputs in one line, for `plan --verbose`."""
    return json.dumps(node.inputs, sort_keys=True, default=str)[:300]
