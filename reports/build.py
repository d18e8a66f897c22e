"""Build an ablation report from the store: Markdown, a self-contained HTML page, LaTeX tables
and figures (PDF + PNG). Everything is rendered in a scratch folder first and then moved into
place, so a failure leaves the output folder as it was.

Runs are the leaderboard's (`leaderboards.board.collect`): the latest complete run per model and
suite, else the latest with metrics; its marks (‡ partial, § not comparable, ¶ imported) follow
every number into the tables, the summary and the figure captions."""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from harness.comparability import digest
from harness.errors import HarnessError
from harness.store import Run, Store
from harness.suites import suite_names
from harness.validate import check_writable
from leaderboards import items, stats
from leaderboards.board import (
    IMPORTED_MARK,
    INCOMPARABLE_MARK,
    LEGEND,
    PARTIAL_MARK,
    PUBLISHED_MARK,
    Entry,
    Mark,
    collect,
    fmt,
    order_key,
    suite_of,
)
from leaderboards.compare import Comparison, compare_runs
from leaderboards.published import ALPACA_SOURCE
from leaderboards.render import Table, markdown_escape, wrap
from reports import figures, style
from reports.spec import ReportSpec


@dataclass
class Report:
    """What a built report holds, for callers and tests."""

    out: Path
    files: list[Path] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)  # name -> matplotlib Figure
    tables: dict[str, Table] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def ifeval_categories(run: Run) -> dict[str, tuple[float, int]] | None:
    """Instruction-level strict accuracy per category, as the scorer stored it in the run's
    breakdown (None for a run stored before breakdowns were kept)."""
    per = run.breakdown.get("per_category")
    if per is None:
        return None
    return {c: (v["strict_acc"], v["n"]) for c, v in sorted(per.items())}


def _rounds(spec: ReportSpec, entries: list[Entry]) -> dict[str, float]:
    found = {}
    for e in entries:
        if e.model in spec.ecd and isinstance(e.meta.get("rounds"), (int, float)):
            found[e.model] = float(e.meta["rounds"])
    found.update({m: float(r) for m, r in spec.rounds.items()})
    return found


Measured = dict[tuple[str, str], Entry]  # (suite, model) -> its measured leaderboard entry


def _pair_marks(base: Entry, variant: Entry, c: Comparison) -> list[Mark]:
    """A delta's caveats: each side's own marks, except that comparability is the pair's."""
    marks = [
        Mark(m.symbol, f"{e.model} {m.text}")
        for e in (base, variant)
        for m in e.marks
        if m.symbol != INCOMPARABLE_MARK
    ]
    if c.incomparable:
        marks.append(Mark(INCOMPARABLE_MARK, "not comparable: " + "; ".join(c.incomparable)))
    return marks


def _what_changed(spec: ReportSpec, store: Store, measured: Measured) -> Table | None:
    """Per suite and ECD variant, the items whose verdict changed against the ablation base
    (`compare --items`' data): how many got better and worse, and in which categories."""
    base, rows, sections = spec.ablation_base, [], {}
    for suite in spec.suites or suite_names():
        if not base or (suite, base) not in measured:
            continue
        for model in spec.ecd:
            if (suite, model) not in measured:
                continue
            changes = items.changed_items(
                store, measured[(suite, base)].run, measured[(suite, model)].run
            )
            per: dict[str, list[int]] = {}
            for c in changes:
                for cat in c.categories:
                    per.setdefault(cat, [0, 0])[c.direction == "worse"] += 1
            if not rows or suite_of(suite).headline.label not in sections.values():
                sections[len(rows)] = suite_of(suite).headline.label
            better = sum(c.direction == "better" for c in changes)
            rows.append(
                [
                    model,
                    str(better),
                    str(len(changes) - better),
                    "\n".join(f"{k} +{b}/-{w}" for k, (b, w) in sorted(per.items())) or "-",
                ]
            )
    if not rows:
        return None
    return Table(
        f"What changed: items whose verdict moved, ECD variant against {base}",
        ["variant", "better", "worse", "by category\n(+better/-worse)"],
        rows,
        [
            "items both runs scored whose contribution to the headline differs (a prompt "
            "passing or failing, a judge score moving); list them with `python -m harness "
            f"compare {base} VARIANT --items`"
        ],
        label="tab:changes",
        sections=sections,
    )


def _ablation(
    spec: ReportSpec, store: Store, measured: Measured
) -> tuple[list[figures.Delta], Table | None, list[str]]:
    """The deltas, their table, and which of them carry marks (for the figure's caption)."""
    base = spec.ablation_base
    if not base:
        return [], None, []
    deltas, rows, marked, tests = [], [], [], {}
    sections: dict[int, str] = {}
    sections_suite: list[str] = []
    caveats: dict[str, dict[str, None]] = {}  # a mark's symbol -> its facts, each once
    for suite in spec.suites or suite_names():
        if (suite, base) not in measured:
            continue
        for model in spec.ecd:
            if (suite, model) not in measured:
                continue
            pair = measured[(suite, base)], measured[(suite, model)]
            c = compare_runs(store, pair[0].run, pair[1].run, spec.bootstrap, spec.seed)
            d = c.as_dict()
            deltas.append(
                figures.Delta(model, suite, d["delta"], d["ci_low"], d["ci_high"], d["significant"])
            )
            marks = _pair_marks(*pair, c)
            symbols = "".join(s for s in LEGEND if any(m.symbol == s for m in marks))
            label = suite_of(suite).headline.label
            digits = suite_of(suite).headline.digits
            if not rows or sections_suite[-1:] != [suite]:
                sections[len(rows)] = label
                sections_suite.append(suite)
            tests.setdefault(label, (f"{c.result.test}, {c.result.interval}", d["alpha"]))
            rows.append(
                [
                    model,
                    str(d["n"]),
                    f"{d['delta']:+.{digits}f}{symbols}",
                    f"[{d['ci_low']:+.{digits}f}, {d['ci_high']:+.{digits}f}]",
                    stats.p_text(d["p_value"], d["details"].get("resamples"), 2)
                    + ("*" if d["significant"] else ""),
                ]
            )
            for m in marks:
                caveats.setdefault(m.symbol, {})[f"{m.text} ({label})"] = None
            if marks:
                marked.append(f"{model} ({label} {symbols})")
    table = Table(
        f"Ablation: ECD variants minus {base}",
        ["variant", "n", "Δ", "95% CI", "p"],
        rows,
        [
            f"Δ: variant minus {base}, paired by item; 95% CI and p from one procedure per "
            "suite: "
            + "; ".join(f"{label} {test}" for label, (test, _) in tests.items())
            + "; * significant at the "
            + "/".join(dict.fromkeys(f"{alpha:g}" for _, alpha in tests.values()))
            + " level (exactly when the CI excludes 0)",
            *(f"{symbol} {'; '.join(facts)}" for symbol, facts in caveats.items()),
        ],
        label="tab:ablation",
        sections=sections,
    )
    return deltas, table if rows else None, marked


class _Sources:
    """A table's footnotes: each published number's source, numbered once, cited as "[n]". The
    AlpacaEval leaderboard is one source, whichever of its rows a number is from."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def cite(self, source: str) -> str:
        if source.startswith(ALPACA_SOURCE):
            source = ALPACA_SOURCE
        if source not in self.items:
            self.items.append(source)
        return f"[{self.items.index(source) + 1}]"


def _report_cell(e: Entry, sources: _Sources, ci: bool) -> str:
    """A score as the report's tables show it: value, marks (or † and its source's number), and
    the CI on a second line where `ci`."""
    d = suite_of(e.suite).headline.digits
    if e.value is None:
        return "-"
    text = fmt(e.value, d) + (PUBLISHED_MARK if e.published else "".join(m.symbol for m in e.marks))
    if ci and e.low is not None:
        text += f"\n[{fmt(e.low, d)}, {fmt(e.high, d)}]"
    return text + (sources.cite(e.source) if e.published else "")


def _size(e: Entry) -> str:
    return f"{e.params_b:g}B" if e.params_b else "-"


def _sections(groups: list[str]) -> dict[int, str]:
    """A heading before each run of rows of one group."""
    return {i: style.group_heading(g) for i, g in enumerate(groups) if i == 0 or groups[i - 1] != g}


def _sampling(sampling: dict | None) -> str:
    if sampling is None:
        return "sampling unknown (responses imported)"
    shown = dict(sampling)
    temperature = shown.pop("temperature", None)
    head = ["greedy" if temperature in (0, 0.0) else f"temperature {temperature}"]
    if temperature is None:
        head = []
    return "sampling: " + ", ".join(head + ([_words(shown)] if _words(shown) else []))


def settings(run: Run) -> str:
    """A run's experimental settings, from its stored comparability key: suite version, data
    version (hash, items scored of items loaded), sampling, judge and scoring options."""
    key = run.comparability or {}
    if not key:
        return f"settings unknown (run {run.id} predates comparability keys)"
    parts = [
        f"{key['suite']} v{key['suite_version']}",
        f"data {key['data_sha'][:8]} ({key['n_items']} of {key['n_data']} items)",
        _sampling(key.get("sampling")),
        _judge(key.get("judge")),
    ]
    options = _words(key.get("options") or {})
    return "; ".join(parts + ([f"scoring: {options}"] if options else []))


def _words(settings: dict) -> str:
    """Settings as a reader says them: "allow partial no", unset ones left out."""
    said = {True: "yes", False: "no"}
    return ", ".join(
        f"{k.replace('_', ' ')} {said.get(v, v) if isinstance(v, bool) else v}"
        for k, v in settings.items()
        if v not in (None, [], {}, "")
    )


def _judge(judge: dict | None) -> str:
    """The judge by name (its fingerprint, an endpoint's card and URL, stays in the store)."""
    if not judge:
        return "no judge"
    if "imported" in judge:
        return f"judgments imported ({judge['imported']})"
    rest = _words({k: v for k, v in judge.items() if k not in ("model", "fingerprint")})
    return f"judge {judge.get('model')}" + (f" ({rest})" if rest else "")


def provenance(entries: list[Entry]) -> list[str]:
    """Where the numbers come from: measured runs grouped by their settings (one line per
    distinct comparability key, naming each model's run id)."""
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        if not e.published and e.run is not None:
            groups.setdefault(digest(e.run.comparability), []).append(e)
    return [
        "measured here ("
        + ", ".join(f"{e.model}: run {e.run.id}" for e in es)
        + f"): {settings(es[0].run)}"
        for es in groups.values()
    ]


def _caveats(entries: list[Entry], name) -> list[str]:
    """Each caveat once, with the numbers it applies to: "‡ partial: 6 of 541 items: a, b"."""
    by_mark: dict[str, list[str]] = {}
    for e in entries:
        for m in e.marks:
            by_mark.setdefault(str(m), []).append(name(e))
    return [f"{mark}: {', '.join(dict.fromkeys(names))}" for mark, names in by_mark.items()]


def _best_cells(columns: dict[int, tuple[list[float | None], bool]]) -> set[tuple[int, int]]:
    """The (row, column) of each column's best measured value, ties included: `columns` maps a
    column to its values per row (None: published or missing) and whether higher is better."""
    bold = set()
    for j, (values, higher) in columns.items():
        known = [v for v in values if v is not None]
        if known:
            best = max(known) if higher else min(known)
            bold |= {(i, j) for i, v in enumerate(values) if v == best}
    return bold


def _measured(e: Entry | None, value) -> float | None:
    return None if e is None or e.published else value


def _leaderboard_table(entries: list[Entry], suites: list[str]) -> Table:
    """One row per model, one headline score per suite, rows grouped (ECD, baselines, ...);
    published numbers cite their source as a numbered note; CIs are in the per-suite tables."""
    models: dict[str, dict[str, Entry]] = {}
    for e in entries:  # a measured number wins over a published one for the same cell
        cell = models.setdefault(e.model, {})
        if e.suite not in cell or (cell[e.suite].published and not e.published):
            cell[e.suite] = e
    sources = _Sources()
    rows, groups = [], []
    for model, cells in models.items():  # entries arrive sorted by group, then score
        first = next(iter(cells.values()))
        groups.append(first.group)
        rows.append(
            [model, _size(first)]
            + [_report_cell(cells[s], sources, ci=False) if s in cells else "-" for s in suites]
        )
    shown = [cells[s] for cells in models.values() for s in suites if s in cells]
    caveats = _caveats(shown, lambda e: f"{e.model} ({suite_of(e.suite).headline.label})")
    units = "; ".join(
        f"{suite_of(s).headline.label} in {suite_of(s).headline.unit}" for s in suites
    )
    bold = _best_cells(
        {
            2 + k: (
                [_measured(c.get(s), c[s].value if s in c else None) for c in models.values()],
                suite_of(s).headline.higher_is_better,
            )
            for k, s in enumerate(suites)
        }
    )
    return Table(
        "Leaderboard",
        ["model", "size", *(wrap(suite_of(s).headline.label, 10) for s in suites)],
        rows,
        [
            f"{units}. Bold: the best measured number per column. {PUBLISHED_MARK} published "
            "number, not measured here (source numbered below); 95% CIs and run settings are in "
            "each suite's table",
            *caveats,
        ],
        label="tab:leaderboard",
        footnotes=sources.items,
        sections=_sections(groups),
        bold=bold,
    )


def _suite_report_table(entries: list[Entry], suite: str, spec: ReportSpec) -> Table:
    """A suite's table in the report: the suite's own metric labels, rows grouped, sources as
    numbered notes, and the settings and run of every measured number in the notes."""
    info = suite_of(suite)
    entries = [e for e in entries if e.suite == suite]
    sources = _Sources()
    rows = [
        [
            e.model,
            _report_cell(e, sources, ci=True),
            *(fmt(e.metrics.get(m.key), m.digits) for m in info.columns),
            str(e.n) if e.n is not None else "-",
        ]
        for e in entries
    ]
    used = {m.symbol for e in entries for m in e.marks}
    metrics = [info.headline, *info.columns]
    bold = _best_cells(
        {
            1 + k: (
                [_measured(e, e.value if k == 0 else e.metrics.get(m.key)) for e in entries],
                m.higher_is_better,
            )
            for k, m in enumerate(metrics)
        }
    )
    return Table(
        f"{info.headline.label} ({info.headline.unit})",
        [
            "model",
            wrap(info.headline.label, 10) + "\n[95% CI]",
            *(wrap(m.label, 10) for m in info.columns),
            "n",
        ],
        rows,
        [
            f"Bold: the best measured number per column. {PUBLISHED_MARK} published number (not "
            "measured here; source numbered below), CI "
            "from its standard error where given; measured numbers: 95% percentile bootstrap CI "
            f"over the n items scored ({spec.bootstrap} resamples, seed {spec.seed})",
            *(f"{symbol} {text}" for symbol, text in LEGEND.items() if symbol in used),
            *_caveats(entries, lambda e: e.model),
            *provenance(entries),
        ],
        label=f"tab:{suite}",
        footnotes=sources.items,
        sections=_sections([e.group for e in entries]),
        bold=bold,
    )


def _examples(spec: ReportSpec, store: Store, measured: Measured) -> list[dict]:
    """IFEval prompts where the compared models disagree first, with each model's response."""
    models = [m for m in [spec.ablation_base, *spec.ecd] if m and ("ifeval", m) in measured]
    if not models or spec.examples <= 0:
        return []
    records = {
        m: {r["id"]: r for r in store.scores(measured[("ifeval", m)].source)} for m in models
    }
    ids = [i for i in records[models[0]] if all(i in records[m] for m in models)]
    disagree = [i for i in ids if len({records[m][i].get("prompt_strict") for m in models}) > 1]
    chosen = (disagree + [i for i in ids if i not in disagree])[: spec.examples]
    return [
        {
            "id": i,
            "prompt": records[models[0]][i].get("prompt", ""),
            "instructions": records[models[0]][i].get("instruction_id_list", []),
            "responses": [
                (m, records[m][i].get("response", ""), bool(records[m][i].get("prompt_strict")))
                for m in models
            ],
        }
        for i in chosen
    ]


def _fence(text: str) -> str:
    """A code fence longer than any backtick run inside, so the text cannot close it."""
    ticks = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", text)), default=0))
    return f"{ticks}text\n{text}\n{ticks}"


def _best(entries: list[Entry], suite: str, names: list[str]) -> Entry | None:
    es = [e for e in entries if e.suite == suite and e.model in names and e.value is not None]
    return max(es, key=lambda e: e.value) if es else None


def _stated(e: Entry, digits: int) -> str:
    """A number as the summary states it: with its source, or what makes it partial/unlike."""
    caveat = "published" if e.published else e.caveat
    return f"{e.model} {fmt(e.value, digits)}" + (f" ({caveat})" if caveat else "")


def _headline(spec: ReportSpec, entries: list[Entry]) -> list[str]:
    """One sentence per suite: best ECD model vs best baseline and best reference."""
    lines = []
    for suite in spec.suites or suite_names():
        ours = _best(entries, suite, spec.ecd)
        if ours is None:
            continue
        digits = suite_of(suite).headline.digits
        parts = [f"{suite_of(suite).headline.label}: best ECD model {_stated(ours, digits)}"]
        for name, names in (
            ("best baseline", spec.baselines),
            ("best 70B reference", spec.references),
        ):
            e = _best(entries, suite, names)
            if e is not None:
                parts.append(f"{name} {_stated(e, digits)}")
        lines.append("; ".join(parts) + ".")
    return lines


def _marked(entries: list[Entry]) -> list[str]:
    """The entries whose numbers carry marks, as a figure caption names them."""
    return [
        f"{e.model} ({suite_of(e.suite).headline.label} {''.join(m.symbol for m in e.marks)})"
        for e in entries
        if e.marks
    ]


def _caption(text: str, marked: list[str]) -> str:
    """A figure's caption, saying which plotted numbers are partial or not comparable."""
    return text + (f"; marked numbers, see the tables: {', '.join(marked)}" if marked else "")


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#111;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
caption{font-weight:600;text-align:left;padding:0.3em 0}
th,td{padding:0.25em 0.7em;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}
thead th{border-bottom:2px solid #333}
.note{font-size:0.85em;color:#444}
.wide{overflow-x:auto}
tr.section th{text-align:left;font-style:italic;font-weight:500;border-bottom:1px solid #999}
figure{margin:1.5em 0}
figure img{max-width:100%;border:1px solid #eee}
pre{white-space:pre-wrap;word-wrap:break-word;background:#f6f6f6;padding:0.6em;font-size:0.85em}
.pass{color:#009E73;font-weight:600}.fail{color:#D55E00;font-weight:600}
"""


def _html_page(
    spec: ReportSpec,
    summary: list[str],
    tables: dict[str, Table],
    figs: list[tuple[str, Path, str]],
    examples: list[dict],
    notes: list[str],
) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">",
        f"<title>{e(spec.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(spec.title)}</h1>",
    ]
    parts += [f"<p>{e(s)}</p>" for s in summary]
    parts += [f'<p class="note">{e(n)}</p>' for n in notes]
    parts.append("<h2>Tables</h2>")
    parts += [f'<div class="wide">{t.html()}</div>' for t in tables.values()]
    parts.append("<h2>Figures</h2>")
    for name, png, caption in figs:
        data = base64.b64encode(png.read_bytes()).decode()
        parts.append(
            f'<figure id="{e(name)}"><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{e(caption)}</figcaption></figure>"
        )
    if examples:
        parts.append("<h2>Example outputs (IFEval)</h2>")
        for ex in examples:
            parts.append(f"<h3>Prompt {e(ex['id'])}</h3><pre>{e(ex['prompt'])}</pre>")
            parts.append(f'<p class="note">instructions: {e(", ".join(ex["instructions"]))}</p>')
            for model, response, ok in ex["responses"]:
                verdict = (
                    '<span class="pass">pass</span>' if ok else '<span class="fail">fail</span>'
                )
                parts.append(
                    f'<h4>{e(model)}: {verdict}</h4><pre class="response">{e(response)}</pre>'
                )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _markdown(
    spec: ReportSpec,
    summary: list[str],
    tables: dict[str, Table],
    figs: list[tuple[str, Path, str]],
    examples: list[dict],
    notes: list[str],
) -> str:
    e = markdown_escape  # every text outside a code fence
    out = [f"# {e(spec.title)}", ""]
    out += [f"- {e(s)}" for s in summary] + [""]
    out += [f"> {e(n)}" for n in notes] + ([""] if notes else [])
    out += ["## Tables", ""] + [t.markdown() for t in tables.values()]
    out += ["## Figures", ""]
    out += [f"![{e(caption)}](figures/{png.name})  \n*{e(caption)}*\n" for _, png, caption in figs]
    if examples:
        out += ["## Example outputs (IFEval)", ""]
        for ex in examples:
            out += [f"### Prompt {e(str(ex['id']))}", "", _fence(ex["prompt"]), ""]
            for model, response, ok in ex["responses"]:
                out += [f"**{e(model)}**: {'pass' if ok else 'fail'}", "", _fence(response), ""]
    return "\n".join(out) + "\n"


def _check_names(spec: ReportSpec, found: set[str], store: Store) -> None:
    """A model with neither a finished run nor a published number is a typo, not an empty row."""
    for role in ("baselines", "references"):
        for model in getattr(spec, role):
            if model not in found:
                published = " and no published number" if spec.published else ""
                raise HarnessError(
                    f"report spec: {role} names {model!r}, which has no finished run in "
                    f"{store.path}{published}; fix the name or run it"
                )


def build_report(spec: ReportSpec, store: Store, out: Path) -> Report:
    """Render every artefact of the report into `out` (created if needed)."""
    check_writable(out, "--out")
    entries = collect(
        store,
        spec.suites or suite_names(),
        spec.models,
        spec.runs,
        spec.published,
        spec.bootstrap,
        spec.seed,
    )
    roles = {m: "baseline" for m in spec.baselines}
    roles.update({m: "reference" for m in spec.references})
    roles.update({m: "ecd" for m in spec.ecd})
    for e in entries:  # the spec says what each model is in this report
        e.group = roles.get(e.model, e.group)
    entries.sort(key=order_key)
    measured = {e.model for e in entries if not e.published}
    missing = [m for m in spec.ecd if m not in measured]
    if missing:
        raise HarnessError(
            f"no finished run in {store.path} for ECD model {missing[0]!r}; run "
            f"`python -m harness run --suite ifeval --model {missing[0]}` or fix the spec"
        )
    _check_names(spec, {e.model for e in entries}, store)
    chosen: Measured = {(e.suite, e.model): e for e in entries if not e.published}
    report = Report(out)
    if any(e.marks for e in chosen.values()):
        report.notes.append(
            f"some numbers are partial ({PARTIAL_MARK}), not comparable with the rest of their "
            f"table ({INCOMPARABLE_MARK}) or imported ({IMPORTED_MARK}): each table's notes say "
            "which and why"
        )
    # the suites listed, else those something was measured on (published numbers alone make a
    # column or a figure only where the spec asks for the suite)
    suites_with_data = [
        s
        for s in spec.suites or suite_names()
        if any(e.suite == s and (spec.suites or not e.published) for e in entries)
    ]
    tables = {"leaderboard": _leaderboard_table(entries, suites_with_data)}
    for suite in suites_with_data:
        tables[suite] = _suite_report_table(entries, suite, spec)
    deltas, ablation, marked_deltas = _ablation(spec, store, chosen)
    if ablation is not None:
        tables["ablation"] = ablation
    changes = _what_changed(spec, store, chosen)
    if changes is not None:
        tables["changes"] = changes
    report.tables = tables
    categories = {}
    for m in spec.category_models:
        if ("ifeval", m) in chosen:
            run = chosen[("ifeval", m)].run
            found = ifeval_categories(run)
            if found is None:
                report.notes.append(
                    f"run {run.id} ({m}) has no stored IFEval breakdown (stored before runs kept "
                    "one): rerun it (generations are cached) for the category figure"
                )
            else:
                categories[m] = found
    rounds = _rounds(spec, entries)
    round_points: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    for e in entries:
        if e.model in rounds and not e.published and e.value is not None:
            round_points[e.suite].append((rounds[e.model], e.value, e.low, e.high))
    sized = [e for e in entries if e.params_b and e.value is not None]
    scaling_suites = [s for s in suites_with_data if any(e.suite == s for e in sized)]
    unsized = [s for s in suites_with_data if s not in scaling_suites]
    if unsized:  # a panel without a point is noise: leave it out and say why
        labels = ", ".join(suite_of(s).headline.label for s in unsized)
        what = (
            f"the score-vs-size figure leaves out {labels}"
            if scaling_suites
            else "no score-vs-size figure"
        )
        where = " there" if scaling_suites else ""
        report.notes.append(f"{what}: no model{where} has a parameter count (registry: params_b)")
    with style.paper_style():
        figs: dict[str, tuple[object, str]] = {}
        if scaling_suites:
            figs["score_vs_params"] = (
                figures.scaling_figure(entries, scaling_suites),
                _caption(
                    "Score vs parameter count per suite (filled: measured here, 95% bootstrap "
                    "CI; hollow: published, sources in the tables; models of the same size are "
                    "spread slightly sideways)",
                    _marked(sized),
                ),
            )
        if categories:
            figs["ifeval_categories"] = (
                figures.category_figure(categories),
                "IFEval instruction-level strict accuracy per instruction category "
                "(a bar at 0% is labelled 0)",
            )
        else:
            report.notes.append("no IFEval runs for the category figure's models")
        if deltas:
            figs["ablation_deltas"] = (
                figures.ablation_figure(deltas, spec.ablation_base),
                _caption(
                    f"ECD variants minus {spec.ablation_base} (paired 95% CI, the test's own: "
                    "filled: significant, hollow: not)",
                    marked_deltas,
                ),
            )
        else:
            report.notes.append("no ablation deltas: the ablation base has no run in common")
        if round_points:
            figs["score_vs_rounds"] = (
                figures.rounds_figure(
                    {s: round_points[s] for s in suites_with_data if s in round_points}
                ),
                _caption(
                    "Score vs number of evolution rounds (ECD variants, 95% bootstrap CI)",
                    _marked([e for e in chosen.values() if e.model in rounds]),
                ),
            )
        else:
            report.notes.append(
                "no evolution-round figure: no ECD model has meta.rounds in the registry "
                "or 'rounds' in the spec"
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".report-", dir=out.parent))
        try:
            fig_files = []
            for name, (fig, caption) in figs.items():
                style.save(fig, scratch / "figures", name)
                fig_files.append((name, scratch / "figures" / f"{name}.png", caption))
                report.figures[name] = fig
            summary = _headline(spec, entries)
            examples = _examples(spec, store, chosen)
            (scratch / "tables").mkdir()
            for name, table in tables.items():
                (scratch / "tables" / f"{name}.tex").write_text(table.latex(), encoding="utf-8")
            (scratch / "report.md").write_text(
                _markdown(spec, summary, tables, fig_files, examples, report.notes),
                encoding="utf-8",
            )
            (scratch / "report.html").write_text(
                _html_page(spec, summary, tables, fig_files, examples, report.notes),
                encoding="utf-8",
            )
            for path in sorted(p for p in scratch.rglob("*") if p.is_file()):
                target = out / path.relative_to(scratch)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
                report.files.append(target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return report
