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

from harness.errors import HarnessError
from harness.store import Run, Store
from harness.validate import check_writable
from leaderboards.board import (
    IMPORTED_MARK,
    INCOMPARABLE_MARK,
    LEGEND,
    PARTIAL_MARK,
    Entry,
    Mark,
    collect,
    combined_table,
    describe,
    fmt,
    order_key,
    suite_of,
    suite_table,
)
from leaderboards.compare import Comparison, compare_runs
from leaderboards.render import Table
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


def _ablation(
    spec: ReportSpec, store: Store, measured: Measured
) -> tuple[list[figures.Delta], Table | None, list[str]]:
    """The deltas, their table, and which of them carry marks (for the figure's caption)."""
    base = spec.ablation_base
    if not base:
        return [], None, []
    deltas, rows, notes, marked = [], [], [], []
    for suite in spec.suites:
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
            digits = suite_of(suite).headline.digits
            rows.append(
                [
                    model,
                    suite_of(suite).headline.label,
                    str(d["n"]),
                    f"{d['delta']:+.{digits}f}{symbols}",
                    f"[{d['ci_low']:+.{digits}f}, {d['ci_high']:+.{digits}f}]",
                    f"{d['p_value']:.3g}",
                    c.result.test,
                    "yes" if d["significant"] else "no",
                ]
            )
            if marks:
                label = suite_of(suite).headline.label
                notes.append(f"{model}, {label}: {describe(marks)}")
                marked.append(f"{model} ({label} {symbols})")
    table = Table(
        f"Ablation: ECD variants minus {base}",
        ["variant", "suite", "n", "delta", "95% CI", "p", "test", "significant"],
        rows,
        [f"paired by item; bootstrap with {spec.bootstrap} resamples, seed {spec.seed}", *notes],
        label="tab:ablation",
    )
    return deltas, table if rows else None, marked


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
    for suite in spec.suites:
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
    out = [f"# {spec.title}", ""]
    out += [f"- {s}" for s in summary] + [""]
    out += [f"> {n}" for n in notes] + ([""] if notes else [])
    out += ["## Tables", ""] + [t.markdown() for t in tables.values()]
    out += ["## Figures", ""]
    out += [f"![{caption}](figures/{png.name})  \n*{caption}*\n" for _, png, caption in figs]
    if examples:
        out += ["## Example outputs (IFEval)", ""]
        for ex in examples:
            out += [f"### Prompt {ex['id']}", "", _fence(ex["prompt"]), ""]
            for model, response, ok in ex["responses"]:
                out += [f"**{model}**: {'pass' if ok else 'fail'}", "", _fence(response), ""]
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
        store, spec.suites, spec.models, spec.runs, spec.published, spec.bootstrap, spec.seed
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
    suites_with_data = [s for s in spec.suites if any(e.suite == s for e in entries)]
    tables = {"leaderboard": combined_table(entries, suites_with_data)}
    for suite in spec.suites:
        if any(e.suite == suite for e in entries):
            tables[suite] = suite_table(entries, suite)
    deltas, ablation, marked_deltas = _ablation(spec, store, chosen)
    if ablation is not None:
        tables["ablation"] = ablation
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
    with style.paper_style():
        figs: dict[str, tuple[object, str]] = {
            "score_vs_params": (
                figures.scaling_figure(entries, suites_with_data),
                _caption(
                    "Score vs parameter count per suite (filled: measured, 95% bootstrap CI; "
                    "hollow: published)",
                    _marked([e for e in entries if e.params_b]),
                ),
            )
        }
        if categories:
            figs["ifeval_categories"] = (
                figures.category_figure(categories),
                "IFEval instruction-level strict accuracy per instruction category",
            )
        else:
            report.notes.append("no IFEval runs for the category figure's models")
        if deltas:
            figs["ablation_deltas"] = (
                figures.ablation_figure(deltas, spec.ablation_base),
                _caption(
                    f"ECD variants minus {spec.ablation_base} (paired bootstrap 95% CI)",
                    marked_deltas,
                ),
            )
        else:
            report.notes.append("no ablation deltas: the ablation base has no run in common")
        if round_points:
            figs["score_vs_rounds"] = (
                figures.rounds_figure(
                    {s: round_points[s] for s in spec.suites if s in round_points}
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
