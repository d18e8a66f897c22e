"""Leaderboards from the store: one row per model and suite, measured and published side by side.

Measured rows come from the latest *complete* run per (suite, model) (finished on every item of
the suite's data, nothing failed), else the latest run with metrics, marked partial; runs chosen
by id replace them. Each carries a bootstrap CI over its scored items. Within a suite, a run whose
comparability key differs from the table's reference key is marked with what differs, and an
imported run (`python -m harness score`) is marked as imported: unlike numbers are never mixed
silently. Published rows come from `published.py` with their source. Model size and group
(baseline / reference / ecd) come from the harness registry.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.comparability import differences, digest
from harness.defaults import default_sampling, non_default, run_sampling
from harness.defaults import describe as describe_settings
from harness.errors import HarnessError
from harness.naming import display_names, run_name
from harness.paths import default_store
from harness.registry import load_registry
from harness.store import Run, Store, is_url, open_store, store_location
from harness.suites import Suite, check_suites, get_suite
from leaderboards import stats
from leaderboards.published import Published, load_published, published_models
from leaderboards.render import Table

GROUP_ORDER = ("ecd", "baseline", "reference", "embedded", "published", "user", "base", "judge")
PUBLISHED_MARK = "†"
PARTIAL_MARK = "‡"
INCOMPARABLE_MARK = "§"
IMPORTED_MARK = "¶"
NON_DEFAULT_MARK = "°"
LEGEND = {
    PARTIAL_MARK: "partial: scored on fewer items than the suite has, or some failed (the "
    "latest complete run is shown wherever one exists)",
    INCOMPARABLE_MARK: "not comparable with the table's reference (the comparability key most "
    "complete runs here share: suite version, data, items, sampling, judge, options); the note "
    "says what differs, this row's value first",
    NON_DEFAULT_MARK: "run at settings other than the suite's defaults (a flag or an experiment "
    "set them); the note says which",
    IMPORTED_MARK: "imported with `python -m harness score` (responses or verdicts made "
    "elsewhere; sampling unknown)",
}


@dataclass(frozen=True)
class Mark:
    """A caveat on a measured number: its symbol in the score cell and why, in words."""

    symbol: str
    text: str

    def __str__(self) -> str:
        return f"{self.symbol} {self.text}"


def describe(marks: list[Mark]) -> str:
    """Marks as a table's notes give them: each symbol with its reason."""
    return "; ".join(map(str, marks))


@dataclass
class Entry:
    model: str
    suite: str
    kind: str  # "measured" or "published"
    value: float | None  # the suite's headline score, display units
    low: float | None  # CI bounds (95 % by default)
    high: float | None
    metrics: dict[str, float | None]  # further metrics, display units
    source: str  # run id, or the citation of a published number
    n: int | None = None
    params_b: float | None = None
    group: str = "user"
    meta: dict = field(default_factory=dict)
    marks: list[Mark] = field(default_factory=list)
    run: Run | None = None  # the measured run behind the row
    display: str = ""  # the row's name: the model's shortest distinguishing name
    settings_row: bool = False  # a run at other settings, shown beside the model's row (--all)

    @property
    def label(self) -> str:
        """The row's name; a settings row (`--all`) adds its settings."""
        name = self.display or self.model
        if self.settings_row and self.run:
            return f"{name} ({describe_settings(changed_settings(self.run))})"
        return name

    @property
    def published(self) -> bool:
        return self.kind == "published"

    @property
    def caveat(self) -> str:
        """The marks in words ("" when the number stands as it is)."""
        return "; ".join(m.text for m in self.marks)


def open_existing_store(path: str | Path | None) -> Store:
    """The given store or the default one; reading a store that does not exist is an error."""
    path = store_location(str(path)) if path else default_store()
    if not is_url(path) and not path.is_file():
        raise HarnessError(
            f"store {path} not found; pass --store with the store your runs wrote to"
        )
    return open_store(path)


@functools.cache
def suite_of(name: str) -> Suite:
    """The suite, asked what its numbers mean (headline, columns, scales, per-item scores)."""
    return get_suite(name)


RULE = (
    "rows: per model and suite, the latest complete run at the suite's default settings, else "
    "the latest at them, else the latest complete run at other settings (marked {mark}); "
    "`--run ID` pins a run"
)


def changed_settings(run: Run) -> dict | None:
    """The run's sampling settings that differ from its suite's defaults ({}: none; None:
    unknown, for imported responses)."""
    return non_default(suite_of(run.suite), run_sampling(run))


def at_defaults(run: Run) -> bool:
    """Run at its suite's default settings (imported responses, whose settings are unknown,
    count: their ¶ mark says so)."""
    return not changed_settings(run)


def latest(runs: list[Run]) -> Run | None:
    """The run a leaderboard shows (`runs` oldest first, one model and suite): the latest complete
    one at the suite's default settings, else the latest at them, else the latest complete one,
    else the latest. A later `--limit 5` run never replaces a full one, and a smoke run with
    `--max-new-tokens 32` never replaces a run at the defaults."""
    default = [r for r in runs if at_defaults(r)]
    for pool in ([r for r in default if r.complete], default, [r for r in runs if r.complete]):
        if pool:
            return pool[-1]
    return runs[-1] if runs else None


def select_runs(
    store: Store,
    suites: list[str] | None = None,
    models: list[str] | None = None,
    run_ids: list[str] | None = None,
    every_setting: bool = False,
) -> list[Run]:
    """`latest` run per (suite, model); a chosen run id replaces its pair's. `models` are named as
    `run` takes them (registry name, folder, hub id, served name). `every_setting`: then also the
    `latest` run of each other group of settings a model ran the suite with (its own row)."""
    suites = check_suites(suites)
    wanted = {run_name(m) for m in models or []}
    done = store.runs()
    pairs: dict[tuple[str, str], list[Run]] = {}
    settings: dict[tuple[str, str, str], list[Run]] = {}
    for r in done:
        if r.suite in suites and (not wanted or r.model in wanted):
            pairs.setdefault((r.suite, r.model), []).append(r)
            if every_setting and not at_defaults(r):
                settings.setdefault((r.suite, r.model, digest(changed_settings(r))), []).append(r)
    chosen = {pair: latest(runs) for pair, runs in pairs.items()}
    by_id = {r.id: r for r in done}
    for rid in run_ids or []:
        if rid not in by_id:
            raise HarnessError(
                f"run {rid!r} is not a finished run in {store.path}; list runs with "
                "`python -m harness runs` or pick another --store"
            )
        run = by_id[rid]
        chosen[(run.suite, run.model)] = run
    picked = list(chosen.values())
    return picked + [r for r in map(latest, settings.values()) if r not in picked]


def reference_run(runs: list[Run]) -> Run | None:
    """The run whose comparability key a suite's table is read under: the key most of the
    complete runs share (all runs when none is complete); a tie goes to the newest run."""
    pool = [r for r in runs if r.comparability]
    pool = [r for r in pool if r.complete] or pool
    counts = Counter(digest(r.comparability) for r in pool)
    newest_first = sorted(pool, key=lambda r: r.started_at, reverse=True)
    return max(newest_first, key=lambda r: counts[digest(r.comparability)], default=None)


def partial_reasons(run: Run, suite: Suite) -> list[str]:
    """Why a run's number is over less than the suite: a --limit, failed items or judgments."""
    key = run.comparability or {}
    reasons = []
    if key.get("n_items") is not None and key["n_items"] != key.get("n_data"):
        reasons.append(f"{key['n_items']} of {key['n_data']} items")
    if run.n_failed:
        reasons.append(f"{run.n_failed} of {run.n_total} {suite.unit} failed")
    return reasons


def run_marks(run: Run, reference: Run | None) -> list[Mark]:
    """The caveats on a run's number in a table read under `reference`'s comparability key."""
    marks = []
    partial = partial_reasons(run, suite_of(run.suite))
    if partial:
        marks.append(Mark(PARTIAL_MARK, "partial: " + ", ".join(partial)))
    if reference is not run:  # this row's settings first, then the reference's
        reasons = differences(run.comparability, reference and reference.comparability)
        if reasons:
            marks.append(Mark(INCOMPARABLE_MARK, "not comparable: " + "; ".join(reasons)))
    changed = changed_settings(run)
    if changed:
        defaults = default_sampling(suite_of(run.suite))
        said = ", ".join(f"{k}={v} (default {defaults.get(k)})" for k, v in changed.items())
        marks.append(Mark(NON_DEFAULT_MARK, f"settings: {said}"))
    imported = run.config.get("imported")
    if imported:
        marks.append(Mark(IMPORTED_MARK, f"imported from {Path(str(imported)).name}"))
    return marks


def measured_entry(
    store: Store,
    run: Run,
    n_boot: int = stats.N_BOOT,
    seed: int = stats.SEED,
    reference: Run | None = None,
) -> Entry:
    """The run's row; `reference` is the run whose key the table is read under (default: itself)."""
    suite = suite_of(run.suite)
    items = list(suite.per_item(store.scores(run.id)).values())
    num = [a for a, _ in items]
    den = [b for _, b in items]
    ci = stats.bootstrap_ci(num, den, n_boot=n_boot, seed=seed)
    metrics = run.metrics or {}
    stored = suite.headline.display(metrics.get(suite.headline.key))
    value = stored if stored is not None else ci.value * suite.item_scale
    return Entry(
        run.model,
        run.suite,
        "measured",
        value,
        ci.low * suite.item_scale,
        ci.high * suite.item_scale,
        {m.key: m.display(metrics.get(m.key)) for m in suite.columns},
        run.id,
        n=len(items),
        marks=run_marks(run, reference or run),
        run=run,
    )


def published_entry(pub: Published) -> Entry:
    suite = suite_of(pub.suite)
    value = pub.metrics.get(suite.headline.key)
    se = pub.metrics.get("standard_error")
    low = high = None
    if value is not None and se is not None:  # the leaderboard's own standard error
        low, high = value - 1.96 * se, value + 1.96 * se
    return Entry(
        pub.model,
        pub.suite,
        "published",
        value,
        low,
        high,
        {m.key: pub.metrics.get(m.key) for m in suite.columns},
        pub.source,
    )


def collect(
    store: Store,
    suites: list[str] | None = None,
    models: list[str] | None = None,
    run_ids: list[str] | None = None,
    published: bool = True,
    n_boot: int = stats.N_BOOT,
    seed: int = stats.SEED,
    every_setting: bool = False,
) -> list[Entry]:
    """Every entry for the chosen suites (and models), marked, with registry metadata filled in;
    `every_setting`: `select_runs`'."""
    suites = check_suites(suites)
    runs = select_runs(store, suites, models, run_ids)
    extra = select_runs(store, suites, models, run_ids, True)[len(runs) :] if every_setting else []
    references = {s: reference_run([r for r in runs if r.suite == s]) for s in suites}
    entries = [measured_entry(store, r, n_boot, seed, references[r.suite]) for r in runs + extra]
    for e in entries[len(runs) :]:
        e.settings_row = True
    if published:
        entries += [
            published_entry(p)
            for p in load_published()
            if p.suite in suites and (not models or p.model in models)
        ]
    registry, others = load_registry(), published_models()
    shown = display_names(e.model for e in entries)
    for e in entries:
        e.display = shown[e.model]
        spec = registry.get(e.model)
        if spec is not None:
            e.params_b, e.group, e.meta = spec.params_b, spec.group, spec.meta
        elif e.model in others:  # known only by its published numbers
            e.params_b, e.group = others[e.model].params_b, "published"
    return sorted(entries, key=order_key)


def order_key(e: Entry):
    group = GROUP_ORDER.index(e.group) if e.group in GROUP_ORDER else len(GROUP_ORDER)
    return (group, -(e.value if e.value is not None else float("-inf")), e.model, e.kind)


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _score_cell(e: Entry) -> str:
    d = suite_of(e.suite).headline.digits
    if e.value is None:
        return "-"
    ci = f" [{fmt(e.low, d)}, {fmt(e.high, d)}]" if e.low is not None else ""
    marks = PUBLISHED_MARK if e.published else "".join(m.symbol for m in e.marks)
    return fmt(e.value, d) + ci + marks


def _size(e: Entry) -> str:
    return f"{e.params_b:g}B" if e.params_b else "-"


def _legend(entries: list[Entry]) -> list[str]:
    """A note for each mark the entries use, in the order of LEGEND."""
    used = {m.symbol for e in entries for m in e.marks}
    return [f"{symbol} {text}" for symbol, text in LEGEND.items() if symbol in used]


def suite_table(entries: list[Entry], suite: str) -> Table:
    info = suite_of(suite)
    entries = [e for e in entries if e.suite == suite]
    rows = [
        [
            e.label,
            e.group,
            _size(e),
            e.kind,
            _score_cell(e),
            *(fmt(e.metrics.get(m.key), m.digits) for m in info.columns),
            str(e.n) if e.n is not None else "-",
            e.source,
            describe(e.marks),
        ]
        for e in entries
    ]
    return Table(
        f"{info.headline.label} ({info.headline.unit})",
        [
            "model",
            "group",
            "params",
            "kind",
            f"{info.headline.key} [95% CI]",
            *(m.key for m in info.columns),
            "n",
            "source",
            "notes",
        ],
        rows,
        [
            f"{PUBLISHED_MARK} published number (not measured here), CI from its standard error "
            "where given; measured CIs: percentile bootstrap over scored items "
            f"({stats.N_BOOT} resamples, seed {stats.SEED})",
            RULE.format(mark=NON_DEFAULT_MARK),
            *_legend(entries),
        ],
        label=f"tab:{suite}",
    )


def combined_table(entries: list[Entry], suites: list[str] | None = None) -> Table:
    """One row per model, one score cell per suite (default: each suite something was measured
    on, in registry order); each marked cell's caveat is a note."""
    suites = suites or [
        s for s in check_suites(None) if any(e.suite == s for e in entries if not e.published)
    ]
    suites = check_suites(suites)
    models: dict[str, dict[str, Entry]] = {}
    for e in entries:  # a measured number wins over a published one for the same cell
        cell = models.setdefault(e.label, {})
        if e.suite not in cell or (cell[e.suite].published and not e.published):
            cell[e.suite] = e
    rows = []
    for model, cells in models.items():  # entries arrive sorted by group, then score
        first = next(iter(cells.values()))
        rows.append(
            [model, first.group, _size(first)]
            + [_score_cell(cells[s]) if s in cells else "-" for s in suites]
        )
    shown = [cells[s] for cells in models.values() for s in suites if s in cells]
    caveats = [
        f"{e.label}, {suite_of(e.suite).headline.label}: {describe(e.marks)}"
        for e in shown
        if e.marks
    ]
    return Table(
        "Leaderboard",
        ["model", "group", "params", *(suite_of(s).headline.label for s in suites)],
        rows,
        [
            f"{PUBLISHED_MARK} published number, not measured here; [low, high]: 95% CI",
            RULE.format(mark=NON_DEFAULT_MARK),
            *caveats,
        ],
        label="tab:leaderboard",
    )
