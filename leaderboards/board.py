"""Leaderboards from the store: one row per model and suite, measured and published side by side.

Measured rows come from the latest finished run per (suite, model) unless runs are chosen by id;
each carries a bootstrap CI over items. Published rows come from `published.py` with their
source. Model size and group (baseline / reference / ecd) come from the harness registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.paths import default_store
from harness.registry import load_registry
from harness.store import Run, Store, open_store
from leaderboards import stats
from leaderboards.metrics import SUITE_METRICS, display
from leaderboards.published import Published, load_published
from leaderboards.render import Table

GROUP_ORDER = ("ecd", "baseline", "reference", "embedded", "user", "judge")
PUBLISHED_MARK = "†"


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

    @property
    def published(self) -> bool:
        return self.kind == "published"


def open_existing_store(path: str | Path | None) -> Store:
    """The given store or the default one; reading a store that does not exist is an error."""
    path = Path(path) if path else default_store()
    if not path.is_file():
        raise HarnessError(
            f"store {path} not found; pass --store with the store your runs wrote to"
        )
    return open_store(path)


def _check_suites(suites: list[str] | None) -> list[str]:
    suites = list(suites or SUITE_METRICS)
    unknown = [s for s in suites if s not in SUITE_METRICS]
    if unknown:
        raise HarnessError(f"unknown suite {unknown[0]!r}; choose from {', '.join(SUITE_METRICS)}")
    return suites


def select_runs(
    store: Store,
    suites: list[str] | None = None,
    models: list[str] | None = None,
    run_ids: list[str] | None = None,
) -> list[Run]:
    """Latest finished run per (suite, model); a chosen run id replaces its pair's latest."""
    suites = _check_suites(suites)
    runs = [r for r in store.runs() if r.suite in suites and (not models or r.model in models)]
    chosen: dict[tuple[str, str], Run] = {(r.suite, r.model): r for r in runs}  # oldest first
    by_id = {r.id: r for r in store.runs()}
    for rid in run_ids or []:
        if rid not in by_id:
            raise HarnessError(
                f"run {rid!r} is not a finished run in {store.path}; list runs with "
                "`python -m leaderboards show` or pick another --store"
            )
        run = by_id[rid]
        chosen[(run.suite, run.model)] = run
    return list(chosen.values())


def measured_entry(
    store: Store, run: Run, n_boot: int = stats.N_BOOT, seed: int = stats.SEED
) -> Entry:
    sm = SUITE_METRICS[run.suite]
    items = list(sm.per_item(store.scores(run.id)).values())
    num = [a for a, _ in items]
    den = [b for _, b in items]
    ci = stats.bootstrap_ci(num, den, n_boot=n_boot, seed=seed)
    metrics = run.metrics or {}
    stored = display(sm.metric, metrics.get(sm.metric))
    value = stored if stored is not None else ci.value * sm.item_scale
    return Entry(
        run.model,
        run.suite,
        "measured",
        value,
        ci.low * sm.item_scale,
        ci.high * sm.item_scale,
        {k: display(k, metrics.get(k)) for k in sm.columns},
        run.id,
        n=len(items),
    )


def published_entry(pub: Published) -> Entry:
    sm = SUITE_METRICS[pub.suite]
    value = pub.metrics.get(sm.metric)
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
        {k: pub.metrics.get(k) for k in sm.columns},
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
) -> list[Entry]:
    """Every entry for the chosen suites (and models), with registry metadata filled in."""
    suites = _check_suites(suites)
    entries = [
        measured_entry(store, run, n_boot, seed)
        for run in select_runs(store, suites, models, run_ids)
    ]
    if published:
        entries += [
            published_entry(p)
            for p in load_published()
            if p.suite in suites and (not models or p.model in models)
        ]
    registry = load_registry()
    for e in entries:
        spec = registry.get(e.model)
        if spec is not None:
            e.params_b, e.group, e.meta = spec.params_b, spec.group, spec.meta
    return sorted(entries, key=order_key)


def order_key(e: Entry):
    group = GROUP_ORDER.index(e.group) if e.group in GROUP_ORDER else len(GROUP_ORDER)
    return (group, -(e.value if e.value is not None else float("-inf")), e.model, e.kind)


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _digits(suite: str) -> int:
    return 2 if suite == "mt_bench" else 1


def _score_cell(e: Entry) -> str:
    d = _digits(e.suite)
    if e.value is None:
        return "-"
    ci = f" [{fmt(e.low, d)}, {fmt(e.high, d)}]" if e.low is not None else ""
    return fmt(e.value, d) + ci + (PUBLISHED_MARK if e.published else "")


def _size(e: Entry) -> str:
    return f"{e.params_b:g}B" if e.params_b else "-"


def suite_table(entries: list[Entry], suite: str) -> Table:
    sm = SUITE_METRICS[suite]
    rows = [
        [
            e.model,
            e.group,
            _size(e),
            e.kind,
            _score_cell(e),
            *(fmt(e.metrics.get(k), _digits(suite)) for k in sm.columns),
            str(e.n) if e.n is not None else "-",
            e.source,
        ]
        for e in entries
        if e.suite == suite
    ]
    return Table(
        f"{sm.label} ({sm.unit})",
        ["model", "group", "params", "kind", f"{sm.metric} [95% CI]", *sm.columns, "n", "source"],
        rows,
        [
            f"{PUBLISHED_MARK} published number (not measured here), CI from its standard error "
            "where given; measured CIs: percentile bootstrap over items"
        ],
        label=f"tab:{suite}",
    )


def combined_table(entries: list[Entry], suites: list[str] | None = None) -> Table:
    suites = _check_suites(suites)
    models: dict[str, dict[str, Entry]] = {}
    for e in entries:  # a measured number wins over a published one for the same cell
        cell = models.setdefault(e.model, {})
        if e.suite not in cell or (cell[e.suite].published and not e.published):
            cell[e.suite] = e
    rows = []
    for model, cells in models.items():  # entries arrive sorted by group, then score
        first = next(iter(cells.values()))
        rows.append(
            [model, first.group, _size(first)]
            + [_score_cell(cells[s]) if s in cells else "-" for s in suites]
        )
    return Table(
        "Leaderboard",
        ["model", "group", "params", *(SUITE_METRICS[s].label for s in suites)],
        rows,
        [f"{PUBLISHED_MARK} published number, not measured here; [low, high]: 95% CI"],
        label="tab:leaderboard",
    )
