r"""One table, five renderings: aligned text, Markdown, CSV, LaTeX (booktabs) and an HTML table.

Cells are plain strings; every renderer escapes them for its format, so model names or outputs
can never inject markup. Three conventions carry layout without markup:

- a cell with a line break ("45.0\n[40.1, 50.2]") is stacked in LaTeX and HTML (later lines
  smaller in LaTeX's body cells) and joined with a space elsewhere;
- a cell ending in "[n]" refers to the table's n-th footnote (1-based): a superscript in LaTeX
  and HTML, the footnotes themselves numbered under the table;
- `sections` maps a row index to a heading row put before it (row groups: ECD, baselines, ...).

LaTeX is sized for one column of a two-column paper: at most `MAX_COLUMNS` columns per table
(wider tables are split, the first column repeated), tight column padding, notes set ragged
right, and a table still wider than the column scaled down to it by TeX itself (graphicx's
\resizebox, only when needed). The tables need `\usepackage{booktabs,graphicx}`.
"""

from __future__ import annotations

import csv
import html
import io
import re
from dataclasses import dataclass, field, replace

FORMATS = ("table", "md", "csv", "latex", "html")
MAX_COLUMNS = 6  # per LaTeX table: more do not fit one column of a two-column paper
_REF = re.compile(r"\[(\d+)\]$")
_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "Δ": r"$\Delta$",  # pdfLaTeX's default encodings have no Greek
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in text)


def _numeric(cells: list[str]) -> bool:
    """Numbers align right; names, notes and sources read better aligned left."""
    filled = [c for c in cells if c not in ("", "-")]
    return bool(filled) and all(c[0].isdigit() or c[0] in "+-[" for c in filled)


def _flat(cell: str) -> str:
    """A stacked cell on one line (text, Markdown, CSV); a line broken after a hyphen joins
    without a space ("prompt-\nstrict" -> "prompt-strict")."""
    return re.sub(r"(?<=-)\n", "", cell).replace("\n", " ")


def _split_ref(cell: str, n_footnotes: int) -> tuple[str, str]:
    """(text, footnote number) for a cell ending in a reference to an existing footnote."""
    m = _REF.search(cell)
    if m and 1 <= int(m.group(1)) <= n_footnotes:
        return cell[: m.start()], m.group(1)
    return cell, ""


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    label: str = ""  # LaTeX \label
    footnotes: list[str] = field(default_factory=list)  # numbered; cells refer with "[n]"
    sections: dict[int, str] = field(default_factory=dict)  # row index -> heading before it

    def render(self, fmt: str) -> str:
        return {
            "table": self.text,
            "md": self.markdown,
            "csv": self.csv,
            "latex": self.latex,
            "html": self.html,
        }[fmt]()

    def _footnote_lines(self) -> list[str]:
        return [f"[{i}] {n}" for i, n in enumerate(self.footnotes, 1)]

    def text(self) -> str:
        columns = [_flat(c) for c in self.columns]
        rows = [[_flat(c) for c in r] for r in self.rows]
        widths = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns))]
        numeric = [_numeric([r[i] for r in rows]) for i in range(len(columns))]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.rjust(w) if numeric[i] else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()

        out = [self.title, line(columns), "  ".join("-" * w for w in widths)]
        for i, r in enumerate(rows):
            if i in self.sections:
                out.append(f"{self.sections[i]}:")
            out.append(line(r))
        out += [f"  {n}" for n in self.notes + self._footnote_lines()]
        return "\n".join(out) + "\n"

    def markdown(self) -> str:
        def cell(c: str) -> str:
            return _flat(c).replace("|", "\\|")

        out = [f"**{self.title}**", "", "| " + " | ".join(map(cell, self.columns)) + " |"]
        out.append("|" + "|".join([" --- "] + [" ---: "] * (len(self.columns) - 1)) + "|")
        for i, r in enumerate(self.rows):
            if i in self.sections:
                blank = " |" * (len(self.columns) - 1)
                out.append(f"| *{cell(self.sections[i])}* |{blank}")
            out.append("| " + " | ".join(map(cell, r)) + " |")
        out += [""] + [f"{n}  " for n in self.notes + self._footnote_lines()]
        return "\n".join(out) + "\n"

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([_flat(c) for c in self.columns])
        writer.writerows([[_flat(c) for c in r] for r in self.rows])
        return buf.getvalue()

    def parts(self, max_columns: int = MAX_COLUMNS) -> list[Table]:
        """The table split into tables of at most `max_columns` columns, each repeating the
        first column; each part keeps the footnotes its cells refer to (same numbers)."""
        if len(self.columns) <= max_columns:
            return [self]
        per = max(1, max_columns - 1)
        chunks = [
            list(range(i, min(i + per, len(self.columns))))
            for i in range(1, len(self.columns), per)
        ]
        out = []
        for k, cols in enumerate(chunks, 1):
            keep = [0, *cols]
            rows = [[r[i] for i in keep] for r in self.rows]
            used = {
                int(ref)
                for r in rows
                for c in r
                for ref in [_split_ref(c, len(self.footnotes))[1]]
                if ref
            }
            footnotes = [n if i in used else "" for i, n in enumerate(self.footnotes, 1)]
            while footnotes and not footnotes[-1]:
                footnotes.pop()
            label = self.label and (self.label if k == 1 else f"{self.label}-{k}")
            out.append(
                replace(
                    self,
                    title=f"{self.title} ({k}/{len(chunks)})",
                    columns=[self.columns[i] for i in keep],
                    rows=rows,
                    label=label,
                    footnotes=footnotes,
                )
            )
        return out

    def latex(self) -> str:
        return "".join(part._latex_one() for part in self.parts())

    def _latex_cell(self, cell: str, align: str, body: bool) -> str:
        text, ref = _split_ref(cell, len(self.footnotes))
        lines = [latex_escape(x) for x in text.split("\n")]
        if ref:
            lines[0] += rf"\textsuperscript{{{ref}}}"
        if len(lines) == 1:
            return lines[0]
        if body:
            lines = [lines[0]] + [rf"{{\scriptsize {x}}}" for x in lines[1:]]
        return (
            rf"\begin{{tabular}}[t]{{@{{}}{align}@{{}}}}" + r"\\{}".join(lines) + r"\end{tabular}"
        )

    def _latex_one(self) -> str:
        cols = [[_flat(r[i]) for r in self.rows] for i in range(len(self.columns))]
        # numbers (and columns with none filled) right, text left; the first column left
        aligns = ["l"] + [
            "r" if _numeric(c) or all(x in ("", "-") for x in c) else "l" for c in cols[1:]
        ]
        spec = "".join(aligns)
        out = [
            r"\begin{table}[t]",
            r"\centering",
            r"\footnotesize",
            r"\setlength{\tabcolsep}{3pt}",
            rf"\caption{{{latex_escape(self.title)}}}",
        ]
        if self.label:
            out.append(rf"\label{{{self.label}}}")
        head = " & ".join(self._latex_cell(c, a, False) for c, a in zip(self.columns, aligns))
        out += [
            r"\sbox0{%",  # measured first: scaled to the column only when wider than it
            rf"\begin{{tabular}}{{{spec}}}",
            r"\toprule",
            head + r" \\",
            r"\midrule",
        ]
        for i, r in enumerate(self.rows):
            if i in self.sections:
                if i:
                    out.append(r"\midrule")
                out.append(
                    rf"\multicolumn{{{len(self.columns)}}}{{@{{}}l}}"
                    rf"{{\emph{{{latex_escape(self.sections[i])}}}}} \\"
                )
            out.append(" & ".join(self._latex_cell(c, a, True) for c, a in zip(r, aligns)) + r" \\")
        out += [
            r"\bottomrule",
            r"\end{tabular}}%",
            rf"\typeout{{table {self.label or self.title}: natural width \the\wd0, "
            r"column \the\columnwidth}%",
            r"\ifdim\wd0>\columnwidth\resizebox{\columnwidth}{!}{\usebox0}\else\usebox0\fi",
        ]
        notes = [latex_escape(n) for n in self.notes] + [
            rf"\textsuperscript{{{i}}}{latex_escape(n)}"
            for i, n in enumerate(self.footnotes, 1)
            if n
        ]
        if notes:
            out.append(r"\par\smallskip{\scriptsize\raggedright")
            out += [n + r"\par" for n in notes]
            out.append("}")
        out.append(r"\end{table}")
        return "\n".join(out) + "\n"

    def html(self) -> str:
        e = html.escape

        def cell(c: str, tag: str) -> str:
            text, ref = _split_ref(c, len(self.footnotes))
            inner = "<br>".join(e(x) for x in text.split("\n"))
            return f"<{tag}>{inner}" + (f"<sup>{ref}</sup>" if ref else "") + f"</{tag}>"

        head = "".join(cell(c, "th") for c in self.columns)
        body = []
        for i, r in enumerate(self.rows):
            if i in self.sections:
                body.append(
                    f'<tr class="section"><th colspan="{len(self.columns)}">'
                    f"{e(self.sections[i])}</th></tr>\n"
                )
            body.append("<tr>" + "".join(cell(c, "td") for c in r) + "</tr>\n")
        notes = "".join(f'<p class="note">{e(n)}</p>' for n in self.notes)
        notes += "".join(
            f'<p class="note"><sup>{i}</sup> {e(n)}</p>' for i, n in enumerate(self.footnotes, 1)
        )
        return (
            f"<table>\n<caption>{e(self.title)}</caption>\n<thead><tr>{head}</tr></thead>\n"
            f"<tbody>\n{''.join(body)}</tbody>\n</table>\n{notes}\n"
        )
