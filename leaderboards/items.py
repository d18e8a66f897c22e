"""Per-item comparison: the items whose verdict changed between two runs of one suite, with both
responses, the verdicts (per instruction, or the judge's scores) and the category, as a table, a
self-contained HTML page and a CSV (`compare A B --items`), and for the report's "what changed".

An item changed when its contribution to the headline (`Suite.contribution`, what the paired
statistic resamples) differs: B better or B worse. Records are read by their fields, whatever the
suite: the prompt (`prompt`, `instruction`), the response (`response`, `output`, `answers`), the
verdicts (`strict` per `instruction_id_list`, `turnN_score`, `preference`) and the category
(`category`, `dataset`, else the instruction groups).
"""

from __future__ import annotations

import csv
import html
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.store import Run, Store
from harness.validate import check_writable
from leaderboards.board import suite_of
from leaderboards.render import Table, csv_cell, plain

DIRECTIONS = ("better", "worse")  # B's item score against A's


@dataclass
class Side:
    """One run's view of an item."""

    response: str
    verdicts: str  # "keywords:existence pass, ..." or "turn 1: 8, turn 2: 6"
    score: float  # the item's headline contribution, numerator over denominator


@dataclass
class ItemChange:
    id: str
    categories: list[str]
    direction: str  # "better" (B scores higher) or "worse"
    prompt: str
    a: Side
    b: Side


def _prompt(record: dict) -> str:
    return str(record.get("prompt") or record.get("instruction") or "")


def _response(record: dict) -> str:
    if record.get("answers"):
        return "\n\n".join(f"[turn {t}] {a}" for t, a in enumerate(record["answers"], 1))
    text = record.get("response", record.get("output"))
    if text is None:
        return (
            f"(no response: {record['error']})" if record.get("error") else "(no response stored)"
        )
    return str(text)


def _verdicts(record: dict) -> str:
    if isinstance(record.get("strict"), list):
        ids = record.get("instruction_id_list") or []
        return ", ".join(f"{i} {'pass' if ok else 'fail'}" for i, ok in zip(ids, record["strict"]))
    turns = [(t, record.get(f"turn{t}_score")) for t in (1, 2) if f"turn{t}_score" in record]
    if turns:
        return ", ".join(f"turn {t}: {'-' if s is None else f'{s:g}'}" for t, s in turns)
    if record.get("preference") is not None:
        return f"preference {record['preference']:g} (1: reference better, 2: model better)"
    return ""


def _categories(record: dict) -> list[str]:
    for key in ("category", "dataset"):
        if record.get(key):
            return [str(record[key])]
    ids = record.get("instruction_id_list") or []
    return list(dict.fromkeys(str(i).split(":")[0] for i in ids))


def changed_items(
    store: Store,
    run_a: Run,
    run_b: Run,
    categories: list[str] | None = None,
    direction: str | None = None,
) -> list[ItemChange]:
    """The items both runs scored whose score differs, worse first, in the suite's item order;
    `categories` and `direction` filter them."""
    suite = suite_of(run_a.suite)
    records_a = {str(r["id"]): r for r in store.scores(run_a.id)}
    records_b = {str(r["id"]): r for r in store.scores(run_b.id)}
    out = []
    for item, ra in records_a.items():
        rb = records_b.get(item)
        ca, cb = suite.contribution(ra), rb is not None and suite.contribution(rb)
        if not ca or not cb or not ca[1] or not cb[1]:
            continue  # unscored on one side: not paired, as in the statistic
        sa, sb = ca[0] / ca[1], cb[0] / cb[1]
        if sa == sb:
            continue
        change = ItemChange(
            item,
            _categories(ra),
            "better" if sb > sa else "worse",
            _prompt(ra),
            Side(_response(ra), _verdicts(ra), sa),
            Side(_response(rb), _verdicts(rb), sb),
        )
        if direction and change.direction != direction:
            continue
        if categories and not set(categories) & set(change.categories):
            continue
        out.append(change)
    return sorted(out, key=lambda c: c.direction != "worse")


def check_categories(store: Store, run: Run, categories: list[str] | None) -> None:
    """A category no item has is a typo, not an empty list: name the ones there are."""
    if not categories:
        return
    known = sorted({c for r in store.scores(run.id) for c in _categories(r)})
    unknown = [c for c in categories if c not in known]
    if unknown:
        raise HarnessError(
            f"--category {unknown[0]!r}: no {run.suite} item has it; categories: {', '.join(known)}"
        )


def _count(n: int) -> str:
    return f"{n} item" + ("" if n == 1 else "s")


def _score(x: float, scale: float, digits: int) -> str:
    return f"{x * scale:.{digits}f}"


def items_table(suite: str, a: str, b: str, changes: list[ItemChange]) -> Table:
    """The changed items, one row each (responses shortened: the page and the CSV have them
    whole)."""
    info = suite_of(suite)
    digits = 0 if info.paired_test == "mcnemar" else 2

    def short(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= 60 else text[:57] + "..."

    better = sum(c.direction == "better" for c in changes)
    return Table(
        f"{suite}: {_count(len(changes))} changed, {b} vs {a}",
        ["item", "category", "B is", "A", "B", "prompt"],
        [
            [
                c.id,
                ", ".join(c.categories),
                c.direction,
                _score(c.a.score, info.item_scale, digits),
                _score(c.b.score, info.item_scale, digits),
                short(c.prompt),
            ]
            for c in changes
        ],
        [f"A = {a}, B = {b}; {better} better, {len(changes) - better} worse in B"],
    )


CSV_COLUMNS = (
    "suite",
    "item",
    "category",
    "direction",
    "score_a",
    "score_b",
    "verdicts_a",
    "verdicts_b",
    "prompt",
    "response_a",
    "response_b",
)


Section = tuple[str, str, str, list[ItemChange]]  # suite, A's name, B's name, its changed items


def items_csv(sections: list[Section]) -> str:
    """Every changed item whole, each cell formula-escaped (`render.csv_cell`)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for suite, _, _, changes in sections:
        for c in changes:
            row = [suite, c.id, "; ".join(c.categories), c.direction, f"{c.a.score:g}"]
            row += [f"{c.b.score:g}", c.a.verdicts, c.b.verdicts, c.prompt]
            writer.writerow([csv_cell(x) for x in [*row, c.a.response, c.b.response]])
    return buf.getvalue()


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#111;line-height:1.4}
.item{border-top:2px solid #333;margin-top:1.5em;padding-top:0.5em}
.item h3{margin:0.2em 0;font-size:1.05em}
.tag{display:inline-block;font-size:0.8em;padding:0.05em 0.5em;border-radius:0.6em;
background:#eee;margin-right:0.3em}
.better{background:#d5f5e3}.worse{background:#fadbd8}
.sides{display:grid;grid-template-columns:1fr 1fr;gap:1em}
.sides h4{margin:0.4em 0 0.2em;font-size:0.95em}
.verdicts{font-size:0.85em;color:#333}
pre{white-space:pre-wrap;word-wrap:break-word;background:#f6f6f6;padding:0.6em;font-size:0.85em;
max-height:24em;overflow:auto;margin:0.3em 0}
.note{font-size:0.85em;color:#444}
"""


def items_html(sections: list[Section]) -> str:
    """A self-contained page (no script, no request: a strict Content-Security-Policy), every
    string from the store escaped. `sections`: (suite, A, B, changes)."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">",
        f"<title>Items that changed</title><style>{CSS}</style></head><body>",
        "<h1>Items that changed</h1>",
    ]
    for suite, a, b, changes in sections:
        better = sum(c.direction == "better" for c in changes)
        parts.append(f"<h2>{e(suite)}: {e(b)} (B) vs {e(a)} (A)</h2>")
        parts.append(
            f'<p class="note">{_count(len(changes))} changed: {better} better in B, '
            f"{len(changes) - better} worse. Scores are each item's contribution to the "
            "headline (1 pass, 0 fail; or the judge's mean).</p>"
        )
        for c in changes:
            tags = "".join(f'<span class="tag">{e(x)}</span>' for x in c.categories)
            parts.append(
                f'<div class="item"><h3>{e(plain(c.id))} <span class="tag {c.direction}">B '
                f"{c.direction}</span>{tags}</h3>"
                + (f"<pre>{e(plain(c.prompt))}</pre>" if c.prompt else "")
                + '<div class="sides">'
            )
            for who, side in (("A", c.a), ("B", c.b)):
                name = a if who == "A" else b
                parts.append(
                    f"<div><h4>{who}: {e(name)} (score {side.score:g})</h4>"
                    f'<div class="verdicts">{e(plain(side.verdicts))}</div>'
                    f"<pre>{e(plain(side.response))}</pre></div>"
                )
            parts.append("</div></div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_items(out: Path, page: str, csv_text: str) -> list[Path]:
    """`items.html` and `items.csv` in `out`, each written whole or not at all."""
    check_writable(out, "--items-out")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("items.html", page), ("items.csv", csv_text)):
        with tempfile.NamedTemporaryFile(
            "w", dir=out, delete=False, suffix=".tmp", encoding="utf-8", newline=""
        ) as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(f.name, 0o666 & ~umask)  # a temporary file is private; the page is not
        os.replace(f.name, out / name)
        written.append(out / name)
    return written
