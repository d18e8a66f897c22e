"""`harness.evaluate`: score a model on suites from Python, as `python -m harness run` does.

The CLI and training's `--eval` are argument parsing and printing over this; everything that
decides what a run is (identity, judges, store, the run itself, its output files) happens here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.data import write_json_atomic
from harness.paths import default_store
from harness.redact import redact_tree
from harness.suites import Scoring, Suite, get_suite, suite_names
from harness.validate import check_writable

if TYPE_CHECKING:
    from harness.judges import Judge
    from harness.registry import ModelSpec
    from harness.runner import RunOutcome
    from harness.store import Store


@dataclass
class EvalOptions:
    """Everything `harness run` takes besides the model and the suites: each field is the flag of
    the same name (`batch_size` is --batch-size) with the same default and meaning. A backend
    option (`base_url`, `batch_size`, `concurrency`, or any other a backend declares, by name in
    `backend_options`) is None when not given: the registry entry's, else the backend's default."""

    backend: str | None = None  # a name from harness.backends.backend_names(); None: the entry's
    base_url: str | None = None
    model_tag: str | None = None
    limit: int | None = None
    batch_size: int | None = None
    concurrency: int | None = None
    max_new_tokens: int | None = None  # None: the suite's (harness.defaults)
    temperature: float | None = None  # None: the suite's
    refresh: bool = False
    data_dir: str | None = None
    output: Path | None = None
    export: Path | None = None
    judge: str | None = None  # None: the suite's default judge
    judge_base_url: str | None = None
    judge_model_tag: str | None = None
    judge_concurrency: int | None = None  # None: the judge entry's backend_options, else 16
    judge_parse_retries: int = 0
    reference_answers: str | None = None
    df_gamed: Path | None = None
    # a file or a postgresql:// URL; None: $ECD_HARNESS_STORE, else $ECD_HARNESS_HOME/store.sqlite
    store: Path | str | None = None
    quiet: bool = False  # no progress bars
    backend_options: dict = field(default_factory=dict)  # e.g. {"tensor_parallel_size": 4}


def evaluate(
    model: str,
    suites: str | Sequence[str],
    options: EvalOptions | None = None,
    on_result: Callable[[RunOutcome], None] | None = None,
) -> list[RunOutcome]:
    """Generate and score each suite for `model` (registry name, checkpoint folder or hub id),
    one stored run per suite; returns the runs in order.

    `suites`: a suite name, comma-separated names, "all" (every registered suite, in registry
    order), or a list of names. Whatever can fail fast fails before the store is opened and before any generation:
    unwritable outputs, a model whose identity can't be established (hub id offline, dead
    endpoint), a judge without its key or endpoint. `on_result` sees each run as soon as it is
    stored (the CLI prints its table there).
    """
    # Imported when called: `python -m harness --help` and `models` do not load backends.
    from harness.backends import fingerprint_for, resolve_options
    from harness.registry import resolve_model
    from harness.store import open_store

    options = options or EvalOptions()
    check_outputs(options)
    spec = resolve_model(model, options.backend)
    backend = options.backend or spec.backend
    # every option the backend runs with (given, else the entry's, else its default): recorded
    backend_options = resolve_options(spec, backend, _backend_options(options))
    if isinstance(suites, str):
        suites = suite_names() if suites == "all" else [s.strip() for s in suites.split(",")]
    names = list(dict.fromkeys(suites))  # a suite named twice runs once
    loaded = [(suite, suite.load(options.data_dir)) for suite in map(get_suite, names)]
    # Identities before anything is written: a hub id offline, a dead endpoint or a rejected key
    # stop the run here, with the store untouched.
    fingerprint = fingerprint_for(spec, backend, model_tag=options.model_tag, **backend_options)
    judges = {suite.name: judge_for(suite, options, None) for suite, _ in loaded}
    store_path = options.store or default_store()
    store = open_store(store_path)
    for judge in filter(None, judges.values()):
        judge.store = store
    run = _SuiteRun(spec, backend, backend_options, fingerprint, store, store_path, options)
    outcomes = []
    for suite, data in loaded:
        outcomes.append(run(suite, data, judges[suite.name], several=len(loaded) > 1))
        if on_result:
            on_result(outcomes[-1])
    return outcomes


@dataclass
class _SuiteRun:
    """What the suites' runs of one `evaluate` call share; called once per suite."""

    spec: ModelSpec
    backend: str
    backend_options: dict
    fingerprint: str
    store: Store
    store_path: Path
    options: EvalOptions

    def __call__(
        self, suite: Suite, data: list[dict], judge: Judge | None, several: bool
    ) -> RunOutcome:
        """Run one suite, then write its results file and native exports when asked for."""
        from harness.backends import make_backend
        from harness.defaults import non_default, sampling_for
        from harness.runner import RunConfig, execute

        options, spec = self.options, self.spec
        params = sampling_for(suite, spec, options.max_new_tokens, options.temperature)
        items = data[: options.limit or None]
        shown = redact_tree(self.backend_options)
        config = RunConfig(
            suite=suite.name,
            model=spec.name,
            backend=self.backend,
            sampling=params.as_dict(),
            limit=options.limit,
            data_source=suite.source,
            store=str(self.store.path),  # a URL's password masked
            backend_options=shown,
            judge=judge.model if judge else None,
            options=scoring_options(suite, options),
            refresh=options.refresh,
            non_default=non_default(suite, params.as_dict()) or {},
        )
        try:
            outcome = execute(
                suite,
                data,
                items,
                self.fingerprint,
                params,
                self.store,
                config,
                lambda: make_backend(spec, self.backend, **self.backend_options),
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
            write_json_atomic(out, self.store.log(outcome.run_id))
        if options.export and judge:
            suite.export(options.export / suite.name, items, outcome.result, spec.name, judge.model)
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


def judge_for(
    suite: Suite, options: EvalOptions, store: Store | None, allow_partial: bool = False
) -> Judge | None:
    """The judge a judged suite needs, built now so a missing key or a dead endpoint stops the
    run before any generation; sets the suite's scoring options. `allow_partial` is `score`'s."""
    scoring_options(suite, options, allow_partial)
    if not suite.judged:
        return None
    from harness.judges import make_judge

    judge = make_judge(
        options.judge or suite.default_judge,
        store,
        base_url=options.judge_base_url,
        concurrency=options.judge_concurrency,
        progress=not options.quiet,
        model_tag=options.judge_model_tag,
        parse_retries=options.judge_parse_retries,
        refresh=options.refresh,
    )
    suite.check_judge(judge.model)  # e.g. FastChat's check_data: the judge's references exist
    return judge
