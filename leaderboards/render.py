"""One table, five renderings: aligned text, Markdown, CSV, LaTeX (booktabs) and an HTML table.

Cells are plain strings; every renderer escapes them for its format, so model names or outputs
can never inject markup.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field

FORMATS = ("table", "md", "csv", "latex", "html")
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
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in text)


def _numeric(cells: list[str]) -> bool:
    """Numbers align right; names, notes and sources read better aligned left."""
    filled = [c for c in cells if c not in ("", "-")]
    return bool(filled) and all(c[0].isdigit() or c[0] in "+-[" for c in filled)


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    label: str = ""  # LaTeX \label

    def render(self, fmt: str) -> str:
        return {
            "table": self.text,
            "md": self.markdown,
            "csv": self.csv,
            "latex": self.latex,
            "html": self.html,
        }[fmt]()

    def text(self) -> str:
        widths = [
            max(len(r[i]) for r in [self.columns, *self.rows]) for i in range(len(self.columns))
        ]

        numeric = [_numeric([r[i] for r in self.rows]) for i in range(len(self.columns))]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.rjust(w) if numeric[i] else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()

        out = [self.title, line(self.columns), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in self.rows] + [f"  {n}" for n in self.notes]
        return "\n".join(out) + "\n"

    def markdown(self) -> str:
        def cell(c: str) -> str:
            return c.replace("|", "\\|")

        out = [f"**{self.title}**", "", "| " + " | ".join(map(cell, self.columns)) + " |"]
        out.append("|" + "|".join([" --- "] + [" ---: "] * (len(self.columns) - 1)) + "|")
        out += ["| " + " | ".join(map(cell, r)) + " |" for r in self.rows]
        out += [""] + [f"{n}  " for n in self.notes]
        return "\n".join(out) + "\n"

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return buf.getvalue()

    def latex(self) -> str:
        spec = "l" + "r" * (len(self.columns) - 1)
        out = [
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            rf"\caption{{{latex_escape(self.title)}}}",
        ]
        if self.label:
            out.append(rf"\label{{{self.label}}}")
        out += [
            rf"\begin{{tabular}}{{{spec}}}",
            r"\toprule",
            " & ".join(latex_escape(c) for c in self.columns) + r" \\",
            r"\midrule",
        ]
        out += [" & ".join(latex_escape(c) for c in r) + r" \\" for r in self.rows]
        out += [r"\bottomrule", r"\end{tabular}"]
        out += [rf"\par\footnotesize {latex_escape(n)}" for n in self.notes]
        out.append(r"\end{table}")
        return "\n".join(out) + "\n"

    def html(self) -> str:
        e = html.escape
        head = "".join(f"<th>{e(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>\n" for r in self.rows
        )
        notes = "".join(f'<p class="note">{e(n)}</p>' for n in self.notes)
        return (
            f"<table>\n<caption>{e(self.title)}</caption>\n<thead><tr>{head}</tr></thead>\n"
            f"<tbody>\n{body}</tbody>\n</table>\n{notes}\n"
        )
