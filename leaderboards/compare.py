"""`python -m leaderboards compare A B` (or `python -m harness compare`): is checkpoint B better
than A, per suite, with paired statistics.

A and B are models, named as `harness run --model` takes them (their leaderboard run per suite:
the latest complete one at the suite's default settings, see `board.latest`), or run ids. Two runs whose comparability keys differ (sampling, data, items, judge...)
are refused with the reasons unless --allow-incomparable, which the output then states. Items are
paired by id; only items both runs scored count. The statistic is the suite's (`paired_test`): a
pass/fail headline (IFEval prompt-level strict accuracy) gets the exact McNemar test and its exact
interval, the others (MT-Bench, AlpacaEval) a paired bootstrap whose resamples give both the
interval and the p-value (`leaderboards.stats`), so the two never disagree.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.comparability import differences
from harness.errors import HarnessError
from harness.naming import run_name
from harness.store import Run, Store
from harness.suites import check_suites
from harness.validate import check_writable, flag_type
from leaderboards import items, stats
from leaderboards.board import latest, open_existing_store, suite_of
from leaderboards.render import FORMATS, Table


@dataclass
class Comparison:
    suite: str
    metric: str
    a: str  # run ids
    b: str
    result: stats.PairedResult
    scale: float
    only_a: int  # items scored in one run only (left out of the pairing)
    only_b: int
    incomparable: list[str] = field(default_factory=list)  # why the runs' keys differ

    def as_dict(self) -> dict:
        r = self.result
        return {
            "suite": self.suite,
            "metric": self.metric,
            "run_a": self.a,
            "run_b": self.b,
            "n": r.n,
            "a": r.a * self.scale,
            "b": r.b * self.scale,
            "delta": r.delta * self.scale,
            "ci_low": r.ci_low * self.scale,
            "ci_high": r.ci_high * self.scale,
            "p_value": r.p_value,
            "test": r.test,
            "interval": r.interval,
            "alpha": r.alpha,
            "significant": r.significant,
            "details": r.details,
            "unpaired_items": {"only_a": self.only_a, "only_b": self.only_b},
            "incomparable": self.incomparable,
        }


def resolve_run(store: Store, who: str, suite: str) -> Run | None:
    """A run id (any suite: checked by the caller), else the model's run on `suite` that its
    leaderboard row shows (`board.latest`); the model named as `run --model` takes it."""
    for run in store.runs():
        if run.id == who:
            return run
    return latest(store.runs(suite=suite, model=run_name(who)))


def compare_runs(
    store: Store,
    run_a: Run,
    run_b: Run,
    n_boot: int = stats.N_BOOT,
    seed: int = stats.SEED,
    alpha: float = stats.ALPHA,
) -> Comparison:
    if run_a.suite != run_b.suite:
        raise HarnessError(f"runs {run_a.id} and {run_b.id} are on different suites")
    suite = suite_of(run_a.suite)
    items_a = suite.per_item(store.scores(run_a.id))
    items_b = suite.per_item(store.scores(run_b.id))
    common = [i for i in items_a if i in items_b]
    if not common:
        raise HarnessError(
            f"{run_a.suite}: runs {run_a.id} and {run_b.id} share no items; compare runs of "
            "the same suite data (same --limit)"
        )
    num_a, den_a = zip(*(items_a[i] for i in common))
    num_b, den_b = zip(*(items_b[i] for i in common))
    if suite.paired_test == "mcnemar":
        result = stats.paired_binary(num_a, num_b, alpha)
    else:
        result = stats.paired_bootstrap(num_a, den_a, num_b, den_b, n_boot, seed, alpha)
    return Comparison(
        suite.name,
        suite.headline.key,
        run_a.id,
        run_b.id,
        result,
        suite.item_scale,
        len(items_a) - len(common),
        len(items_b) - len(common),
        differences(run_a.comparability, run_b.comparability),
    )


def compare(
    store: Store,
    a: str,
    b: str,
    suites: list[str] | None = None,
    n_boot: int = stats.N_BOOT,
    seed: int = stats.SEED,
    alpha: float = stats.ALPHA,
    allow_incomparable: bool = False,
) -> list[Comparison]:
    """One comparison per suite where both have a run (or per named suite, which must have both);
    runs that are not comparable are refused unless `allow_incomparable`."""
    out = []
    for suite in check_suites(suites):
        run_a, run_b = resolve_run(store, a, suite), resolve_run(store, b, suite)
        if run_a is None or run_b is None:
            if suites:
                missing = a if run_a is None else b
                raise HarnessError(
                    f"no finished {suite} run for {missing!r} in {store.path}; run "
                    f"`python -m harness run --suite {suite} --model {missing}` first"
                )
            continue
        if run_a.suite != suite or run_b.suite != suite:
            if suites and len(suites) == 1:
                raise HarnessError(f"run {a if run_a.suite != suite else b} is not a {suite} run")
            continue
        if not allow_incomparable:
            refuse_incomparable(run_a, run_b)
        out.append(compare_runs(store, run_a, run_b, n_boot, seed, alpha))
    if not out:
        raise HarnessError(
            f"{a!r} and {b!r} have no suite in common in {store.path}; check the names with "
            "`python -m leaderboards show`"
        )
    return out


def refuse_incomparable(run_a: Run, run_b: Run) -> None:
    """Numbers made under different settings are not a measurement of the checkpoints: say why."""
    reasons = differences(run_a.comparability, run_b.comparability)
    if reasons:
        raise HarnessError(
            f"{run_a.suite}: runs {run_a.id} ({run_a.model}) and {run_b.id} ({run_b.model}) are "
            f"not comparable: {'; '.join(reasons)}; rerun one with the other's settings, or pass "
            "--allow-incomparable to compare anyway"
        )


def comparison_table(a: str, b: str, comparisons: list[Comparison]) -> Table:
    from leaderboards.board import INCOMPARABLE_MARK

    rows = []
    for c in comparisons:
        d = c.as_dict()
        digits = suite_of(c.suite).headline.digits
        rows.append(
            [
                c.suite + (INCOMPARABLE_MARK if c.incomparable else ""),
                str(d["n"]),
                f"{d['a']:.{digits}f}",
                f"{d['b']:.{digits}f}",
                f"{d['delta']:+.{digits}f}",
                f"[{d['ci_low']:+.{digits}f}, {d['ci_high']:+.{digits}f}]",
                stats.p_text(d["p_value"], d["details"].get("resamples")),
                c.result.test,
                "yes" if d["significant"] else "no",
            ]
        )
    alpha = comparisons[0].result.alpha
    procedures = [f"{c.suite}: {c.result.test}, {c.result.interval}" for c in comparisons]
    overridden = [
        f"{INCOMPARABLE_MARK} {c.suite}: NOT COMPARABLE, compared anyway (--allow-incomparable): "
        + "; ".join(c.incomparable)
        for c in comparisons
        if c.incomparable
    ]
    return Table(
        f"{b} vs {a} (delta = B - A)",
        ["suite", "n", "A", "B", "delta", f"{100 * (1 - alpha):g}% CI", "p", "test", "significant"],
        rows,
        [
            f"A = {a}, B = {b}; paired by item id; significant: p < {alpha:g}, exactly when the "
            f"CI excludes 0 (interval and p from one procedure: {'; '.join(procedures)})",
            *overridden,
        ],
    )


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two checkpoints per suite with paired statistics",
        description="Paired comparison of B against A on the items both were scored on: the "
        "difference B - A, its CI, a p-value and whether it is significant, the CI and the p-value "
        "from one procedure (the CI excludes 0 exactly when p < alpha). Pass/fail suites (IFEval) "
        "use the exact McNemar test and its exact interval; scored suites (MT-Bench, AlpacaEval) "
        "a seeded paired bootstrap. A and B are models as `run --model` takes them (registry "
        "name, folder, hub id, served name: the leaderboard's run, the latest complete one at the "
        "suite's default settings) or run ids. Runs made under different settings (sampling, "
        "data, items, judge) are refused "
        "with the reason.",
    )
    p.add_argument("a", help="baseline: model name or run id")
    p.add_argument("b", help="candidate: model name or run id")
    p.add_argument("--suite", action="append", help="only this suite (repeatable)")
    p.add_argument(
        "--bootstrap",
        type=flag_type(stats.BOOTSTRAP),
        default=stats.N_BOOT,
        help=f"resamples, {stats.BOOTSTRAP.text} (default {stats.N_BOOT}, as leaderboards and reports)",
    )
    p.add_argument("--seed", type=int, default=stats.SEED, help="bootstrap seed (default 0)")
    p.add_argument("--alpha", type=float, default=stats.ALPHA, help="level (default 0.05)")
    p.add_argument("--format", choices=(*FORMATS, "json"), default="table")
    p.add_argument(
        "--allow-incomparable",
        action="store_true",
        help="compare runs whose comparability keys differ; the output lists what differs",
    )
    p.add_argument("--store", help="SQLite file or postgresql:// URL (default: the harness store)")
    p.add_argument(
        "--items",
        action="store_true",
        help="also list the items whose verdict changed (both responses, verdicts, category)",
    )
    p.add_argument(
        "--category", action="append", help="with --items: only items of this category (repeatable)"
    )
    p.add_argument(
        "--direction", choices=items.DIRECTIONS, help="with --items: only items B got better/worse"
    )
    p.add_argument(
        "--items-out",
        metavar="DIR",
        help="with --items: write DIR/items.html (self-contained page) and DIR/items.csv",
    )


def _items(store: Store, args, comparisons: list[Comparison]) -> list[items.Section]:
    """The changed items of each pair `compare` used, filtered as asked."""
    runs = {r.id: r for r in store.runs()}
    sections = []
    for c in comparisons:
        run_a, run_b = runs[c.a], runs[c.b]
        items.check_categories(store, run_a, args.category)
        changes = items.changed_items(store, run_a, run_b, args.category, args.direction)
        same = run_a.model == run_b.model  # two runs of one model: name them by run
        names = [f"{r.model} (run {r.id})" if same else r.model for r in (run_a, run_b)]
        sections.append((c.suite, *names, changes))
    return sections


def cmd_compare(args) -> int:
    if not args.items and (args.category or args.direction or args.items_out):
        raise HarnessError("--category, --direction and --items-out go with --items; add --items")
    if args.items_out:
        check_writable(args.items_out, "--items-out")
    if not 0 < args.alpha < 1:
        raise HarnessError("--alpha must be between 0 and 1")
    store = open_existing_store(args.store)
    comparisons = compare(
        store,
        args.a,
        args.b,
        args.suite,
        args.bootstrap,
        args.seed,
        args.alpha,
        args.allow_incomparable,
    )
    sections = _items(store, args, comparisons) if args.items else []
    if args.format == "json":
        out = [c.as_dict() for c in comparisons]
        for d, (*_, changes) in zip(out, sections):
            d["changed_items"] = [asdict(c) for c in changes]
        print(json.dumps(out, indent=1))
    else:
        print(comparison_table(args.a, args.b, comparisons).render(args.format), end="")
        for suite, a, b, changes in sections:
            print(items.items_table(suite, a, b, changes).render(args.format), end="")
    if args.items_out:
        page, text = items.items_html(sections), items.items_csv(sections)
        for path in items.write_items(Path(args.items_out), page, text):
            print(f"wrote {path}", file=sys.stderr)
    return 0
