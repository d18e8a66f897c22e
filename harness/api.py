"""`harness.evaluate` and `harness.score`: score a model on suites from Python, as
`python -m harness run` and `score` do.

The CLI and training's `--eval` are argument parsing and printing over this; everything that
decides what a run is (identity, judges, store, the run itself, its output files) happens here,
in `prepare`, which the experiment planner uses too, so a plan's node key is the run's key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.data import write_json_atomic
from harness.paths import default_store
from harness.redact import redact_tree
from harness.suites import Scoring, Suite, get_suite, suite_names
from harness.validate import NON_NEGATIVE, POSITIVE, Rule, between, check_writable, setting

if TYPE_CHECKING:
    from harness.backends import SamplingParams
    from harness.judges import Judge
    from harness.registry import ModelSpec
    from harness.runner import RunOutcome
    from harness.store import Store

MAX_NEW_TOKENS = 1 << 20  # no model's context is longer; a larger count is a typo
FINITE_NON_NEGATIVE = Rule("finite and >= 0", lambda v: math.isfinite(v) and v >= 0)


def _backends_help() -> str:
    from harness.backends import backend_names

    return f"{', '.join(backend_names())} (default: the registry entry's, else hf)"


def _max_new_tokens_help() -> str:
    suites = ", ".join(f"{n} {get_suite(n).generation.max_new_tokens}" for n in suite_names())
    return (
        f"default: the suite's, its reference tool's ({suites}); a run with another value "
        "records it, and leaderboards prefer runs at the defaults"
    )


def _temperature_help() -> str:
    from harness.defaults import MODEL_OWNED

    return (
        "default: the suite's (0 = greedy; mt_bench: FastChat's per-category temperatures). A "
        f"model's registry sampling sets only what suites leave to the model: {MODEL_OWNED}"
    )


def _store_location(text: str) -> Path | str:
    from harness.store import store_location

    return store_location(text)


BACKEND_OPTION = "a backend option: its flag, rule and default are the backends' (harness/backends)"


@dataclass
class EvalOptions:
    """Everything `harness run` takes besides the model and the suites, each declared once: its
    flag (`batch_size` is --batch-size), help, rule and default are the field's (`setting`), and
    experiment specs reuse the fields. A backend option (`base_url`, `batch_size`,
    `concurrency`, or any other a backend declares, by name in `backend_options`) is None when not
    given: the registry entry's, else the backend's default."""

    backend: str | None = setting(None, _backends_help, "model")
    base_url: str | None = setting(None, BACKEND_OPTION, "model", flag=False)
    model_tag: str | None = setting(
        None,
        "a name for the weights behind --model, part of its cache identity: use it when an "
        "endpoint serves different weights under one name and reports nothing that tells them "
        "apart (GET /models gives no root)",
        "model",
    )
    batch_size: int | None = setting(None, BACKEND_OPTION, "model", flag=False)
    concurrency: int | None = setting(None, BACKEND_OPTION, "model", flag=False)
    max_new_tokens: int | None = setting(
        None,
        _max_new_tokens_help,
        "sampling",
        rule=between(1, MAX_NEW_TOKENS),
    )
    temperature: float | None = setting(
        None, _temperature_help, "sampling", rule=FINITE_NON_NEGATIVE
    )  # NaN would sample garbage, silently
    limit: int | None = setting(
        None, "only the first N items (quick checks)", "data", rule=POSITIVE
    )
    data_dir: str | None = setting(
        None,
        "local benchmark data (default: $ECD_HARNESS_DATA, then the HF hub, then the installed "
        "data wheel)",
        "data",
    )
    refresh: bool = setting(
        False,
        "generate and judge again even what the store has, replacing the cached entries",
        "data",
    )
    judge: str | None = setting(
        None,
        "judge model for judged suites: a registry name or any OpenAI-compatible model "
        "(default: the judge each suite's reference tool uses; the results table names it)",
        "judge",
    )
    judge_base_url: str | None = setting(
        None, "OpenAI-compatible judge endpoint (e.g. vllm serve)", "judge"
    )
    judge_model_tag: str | None = setting(None, "as --model-tag, for the judge's weights", "judge")
    judge_concurrency: int | None = setting(
        None,
        "parallel judge requests (default: the judge's registry entry, else 16)",
        "judge",
        rule=POSITIVE,
    )
    judge_parse_retries: int = setting(
        0,
        "re-ask a judge whose reply has no verdict this many times (default 0: one call per "
        "judgment, as FastChat and alpaca_eval; a failed judgment scores -1 / no preference). "
        "Recorded in the run; runs with other values are not compared",
        "judge",
        rule=NON_NEGATIVE,
    )
    reference_answers: str | None = setting(
        None,
        "mt_bench: grade math/reasoning/coding against this judge's reference answers "
        "(reference_answer/JUDGE.jsonl) instead of the judge's own, which FastChat requires; "
        "recorded in the run",
        "judge",
        metavar="JUDGE",
    )
    df_gamed: Path | None = setting(
        None,
        "local copy of alpaca_eval's df_gamed.csv for the length-controlled win rate "
        "(default: $ECD_HARNESS_DF_GAMED, the data dir, then the HF hub)",
        "judge",
    )
    output: Path | None = setting(
        None,
        "write a results JSON (config, versions, metrics, per-item records); with several "
        "suites, one file per suite (NAME.SUITE.json)",
        "output",
    )
    export: Path | None = setting(
        None,
        "also write the judged suites' native files in this folder (FastChat model_answer and "
        "model_judgment JSONL; alpaca_eval model_outputs.json and annotations.json)",
        "output",
    )
    # a file or a postgresql:// URL; None: $ECD_HARNESS_STORE, else $ECD_HARNESS_HOME/store.sqlite
    store: Path | str | None = setting(
        None,
        "SQLite store file, or a postgresql://user:pass@host:port/db URL for a store shared "
        "across machines (default: $ECD_HARNESS_STORE or $ECD_HARNESS_HOME/store.sqlite); "
        "imported results appear on leaderboards, marked as imported",
        "output",
        parse=_store_location,
    )
    quiet: bool = setting(False, "no progress bars or table", "output")
    backend_options: dict = field(default_factory=dict)  # e.g. {"tensor_parallel_size": 4}


@dataclass
class PreparedModel:
    """The model under test as a run uses it: its entry, backend and every option the backend runs
    with (given, else the entry's, else the backend's default; resolved once)."""

    spec: ModelSpec
    backend: str
    backend_options: dict
    model_tag: str | None = None
    fingerprint: str | None = None  # set by `identify`

    def identify(self) -> str:
        """The model's identity (computed once): a hub id offline or a dead endpoint stops here."""
        from harness.backends import get_backend

        if self.fingerprint is None:
            kind = get_backend(self.backend)
            self.fingerprint = kind.identify(self.spec, self.model_tag, self.backend_options)
        return self.fingerprint

    def build(self):
        """The backend itself (loads the model): only when a generation is missing."""
        from harness.backends import get_backend

        return get_backend(self.backend).build(self.spec, **self.backend_options)


@dataclass
class PreparedRun:
    """One suite's run, decided before anything is written: the model (None for responses made
    elsewhere) and its sampling (the suite's settings unless a flag says otherwise,
    `harness.defaults`), the suite with its data, the items scored, the judge and the scoring
    options that change scores. `key()` is the run's comparability key."""

    model: PreparedModel | None
    params: SamplingParams | None
    suite: Suite
    data: list[dict]  # every item the suite loaded
    items: list[dict]  # those this run scores (after --limit)
    scoring: dict  # the suite's options that change its scores
    options: EvalOptions
    judge: Judge | None = None  # set by `identify`

    @property
    def judge_name(self) -> str | None:
        return (self.options.judge or self.suite.default_judge) if self.suite.judged else None

    def identify(self) -> None:
        """The model's and the judge's identities: a hub id offline, a dead endpoint, a judge
        without its key stop here, before the store is opened and before any generation."""
        if self.model:
            self.model.identify()
        if self.suite.judged and self.judge is None:
            self.judge = _make_judge(self.suite, self.judge_name, self.options)

    def key(self, **given) -> dict:
        """The comparability key; `given` replaces parts known only after scoring (`score`'s
        items and imported judge)."""
        from harness import comparability
        from harness.runner import judge_key

        parts = {
            "items": self.items,
            "sampling": self.params.as_dict() if self.params else None,
            "judge": judge_key(self.judge),
            "options": self.scoring,
        } | given
        suite = self.suite
        return comparability.key(suite.name, suite.version, self.data, **parts)


def prepare_model(model: str | ModelSpec, options: EvalOptions) -> PreparedModel:
    """The model's part of a run: registry entry, backend, resolved options."""
    from harness.backends import resolve_options
    from harness.registry import resolve_model

    spec = resolve_model(model, options.backend) if isinstance(model, str) else model
    backend = options.backend or spec.backend
    resolved = resolve_options(spec, backend, _backend_options(options))
    return PreparedModel(spec, backend, resolved, options.model_tag)


def prepare(
    model: str | ModelSpec | PreparedModel | None,
    suite: str | Suite,
    options: EvalOptions | None = None,
    *,
    data: list[dict] | None = None,
    allow_partial: bool = False,
) -> PreparedRun:
    """A run of `suite` for `model`, resolved without contacting anything (call `identify` for
    the identities): what `evaluate`, `score` and the experiment planner run or address.
    `model` None: responses made elsewhere (`score`); `data`: the suite's items, already loaded;
    `allow_partial` is `score`'s."""
    options = options or EvalOptions()
    if model is not None and not isinstance(model, PreparedModel):
        model = prepare_model(model, options)
    suite = get_suite(suite) if isinstance(suite, str) else suite
    data = suite.load(options.data_dir) if data is None else data
    scoring = scoring_options(suite, options, allow_partial)
    params = None
    if model is not None:
        from harness.defaults import sampling_for

        params = sampling_for(suite, model.spec, options.max_new_tokens, options.temperature)
    items = data[: options.limit or None]
    return PreparedRun(model, params, suite, data, items, scoring, options)


def evaluate(
    model: str,
    suites: str | Sequence[str],
    options: EvalOptions | None = None,
    on_result: Callable[[RunOutcome], None] | None = None,
) -> list[RunOutcome]:
    """Generate and score each suite for `model` (registry name, checkpoint folder or hub id),
    one stored run per suite; returns the runs in order.

    `suites`: a suite name, comma-separated names, "all" (every registered suite, in registry
    order), or a list of names. Whatever can fail fast fails before the store is opened and
    before any generation: unwritable outputs, a model whose identity can't be established (hub
    id offline, dead endpoint), a judge without its key or endpoint. `on_result` sees each run as
    soon as it is stored (the CLI prints its table there).
    """
    options = options or EvalOptions()
    check_outputs(options)
    prepared = prepare_model(model, options)
    if isinstance(suites, str):
        suites = suite_names() if suites == "all" else [s.strip() for s in suites.split(",")]
    names = list(dict.fromkeys(suites))  # a suite named twice runs once
    runs = [prepare(prepared, name, options) for name in names]
    for run in runs:  # identities before anything is written: the store stays untouched
        run.identify()
    store = _open(options)
    outcomes = []
    for run in runs:
        outcomes.append(_execute(run, store, several=len(runs) > 1))
        if on_result:
            on_result(outcomes[-1])
    return outcomes


def score(
    suite: str,
    source: Path,
    options: EvalOptions | None = None,
    *,
    verdicts: bool = False,
    model: str | None = None,
    allow_partial: bool = False,
) -> RunOutcome:
    """Score responses made elsewhere (`source`), or with `verdicts` a reference tool's verdict
    file (no judge calls); the result is a run in the store, marked as imported. The file is read
    and scored before the store is opened: a malformed one leaves the store as it was."""
    from harness.errors import HarnessError
    from harness.runner import RunOutcome, package_versions, record_outcome

    options = options or EvalOptions()
    check_outputs(options)
    run = prepare(None, suite, options, allow_partial=allow_partial)
    suite_ = run.suite
    if verdicts:
        result = suite_.score_verdicts(source, run.data, model)
        store = _open(options)
    else:
        if not source.is_file():
            raise HarnessError(f"responses file {source} not found")
        items, responses = suite_.read_responses(source, run.data)
        run.identify()  # the judge: a missing key stops here
        store = _open(options)
        try:
            if run.judge:
                run.judge.store = store
            result = suite_.score(items, responses, run.judge)
        finally:
            if run.judge:
                run.judge.close()
    name = model or result.breakdown.get("model") or source.stem
    by_id = {it["id"]: it for it in run.data}
    scored = [by_id[r["id"]] for r in result.records if r["id"] in by_id]
    if verdicts:  # the verdicts' judge, as the file names it; no scoring options of ours
        imported = {"imported": str(result.breakdown.get("judge"))}
        key = run.key(items=scored, judge=imported, options={})
    else:
        key = run.key(items=scored)
    config = {
        "suite": suite_.name,
        "model": name,
        "imported": str(source),
        "data_source": suite_.source,
        "judge": run.judge.model if run.judge else None,
    }
    run_id = store.start_run(suite_.name, name, None, config, key, package_versions())
    status = record_outcome(store, run_id, result, len(result.records), imported=True)
    if options.output:
        write_json_atomic(options.output, store.log(run_id))
    return RunOutcome(run_id, result, status, suite_, name)


def _open(options: EvalOptions) -> Store:
    from harness.store import open_store

    return open_store(options.store or default_store())


def _execute(run: PreparedRun, store: Store, several: bool) -> RunOutcome:
    """Run one prepared suite, then write its results file and native exports when asked for."""
    from harness.defaults import non_default
    from harness.runner import RunConfig, execute

    options, model, suite, judge = run.options, run.model, run.suite, run.judge
    config = RunConfig(
        suite=suite.name,
        model=model.spec.name,
        backend=model.backend,
        sampling=run.params.as_dict(),
        limit=options.limit,
        data_source=suite.source,
        store=str(store.path),  # a URL's password masked
        backend_options=redact_tree(model.backend_options),
        judge=judge.model if judge else None,
        options=run.scoring,
        refresh=options.refresh,
        non_default=non_default(suite, run.params.as_dict()) or {},
    )
    if judge:
        judge.store = store
    try:
        outcome = execute(
            suite,
            run.items,
            model.fingerprint,
            run.params,
            store,
            config,
            model.build,
            run.key(),
            judge=judge,
            progress=not options.quiet,
        )
    finally:
        if judge:
            judge.close()
    if options.output:
        out = options.output
        if several:
            out = out.with_name(f"{out.stem}.{suite.name}{out.suffix or '.json'}")
        write_json_atomic(out, store.log(outcome.run_id))
    if options.export and judge:
        suite.export(
            options.export / suite.name, run.items, outcome.result, model.spec.name, judge.model
        )
    return outcome


def check_outputs(options: EvalOptions) -> None:
    """Fail before any work when an output can't be written (not after an hour of generation)."""
    from harness.store import is_url

    if options.output:
        check_writable(options.output, "--output", folder=False)
    if options.export:
        check_writable(options.export, "--export")
    if options.store and not is_url(options.store):  # a URL is checked when opened
        check_writable(options.store, "--store", folder=False)


def _backend_options(options: EvalOptions) -> dict:
    """The backend options given: fields named as a backend's option, and `backend_options`.
    `resolve_options` checks them against the backend's (one it does not take is one line) and
    fills in the registry entry's and the defaults."""
    from harness.backends import flagged_options

    declared = {o.name for o in flagged_options()}
    named = {k: v for k, v in vars(options).items() if k in declared and v is not None}
    return {**named, **options.backend_options}


def scoring_options(suite: Suite, options: EvalOptions, allow_partial: bool = False) -> dict:
    """Gives the suite its scoring options; returns those that change its scores (recorded in the
    run, and part of comparability). `allow_partial` is `score`'s."""
    return suite.configure(
        Scoring(
            judge_parse_retries=options.judge_parse_retries,
            reference_answers=options.reference_answers,
            allow_partial=allow_partial,
            df_gamed=options.df_gamed,
        )
    )


def _make_judge(suite: Suite, name: str, options: EvalOptions) -> Judge:
    """The judge a judged suite needs, built (and identified) now so a missing key or a dead
    endpoint stops the run before any generation. Its store is set when the store is open."""
    from harness.judges import make_judge

    judge = make_judge(
        name,
        None,
        base_url=options.judge_base_url,
        concurrency=options.judge_concurrency,
        progress=not options.quiet,
        model_tag=options.judge_model_tag,
        parse_retries=options.judge_parse_retries,
        refresh=options.refresh,
    )
    suite.check_judge(judge.model)  # e.g. FastChat's check_data: the judge's references exist
    return judge
