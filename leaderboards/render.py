r"""One table, five renderings: aligned text, Markdown, CSV, LaTeX (booktabs) and an HTML table.

Cells are plain strings; every renderer escapes them for its format with that format's one helper
(`latex_escape`, `markdown_escape`, `csv_cell`, `html.escape`; control characters become spaces),
so model names or outputs can never inject markup, formulas or TeX commands. Three
conventions carry layout without markup:

- a cell with a line break ("45.0\n[40.1, 50.2]") is stacked in LaTeX and HTML (later lines
  smaller in LaTeX's body cells) and joined with a space elsewhere;
- a cell ending in "[n]" refers to the table's n-th footnote (1-based): a superscript in LaTeX
  and HTML, the footnotes themselves numbered under the table;
- `sections` maps a row index to a heading row put before it (row groups: ECD, baselines, ...).

LaTeX is sized for one column of a two-column paper: at most `MAX_COLUMNS` columns per table
(wider tables are split, the first column repeated), tight column padding, notes set ragged
right, never scaled (type sizes stay the paper's). The tables need `\usepackage{booktabs}`, as the
comment at the top of each says.
"""

from __future__ import annotations

import csv
import html
import io
import re
from dataclasses import dataclass, field, replace

FORMATS = ("table", "md", "csv", "latex", "html")
LATEX_PREAMBLE = (
    "% needs \\usepackage{booktabs} in the preamble; sized for one column of a two-column paper\n"
)
FIRST_COLUMN_CHARS = 14  # a longer model name wraps at a hyphen in LaTeX
MAX_COLUMNS = 6  # per LaTeX table: more do not fit one column of a two-column paper
_REF = re.compile(r"\[(\d+)\]$")
_LABEL = re.compile(r"[^A-Za-z0-9:._-]")  # a \label key: nothing TeX would expand
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
    "<": r"\textless{}",  # OT1, LaTeX's default font encoding, sets < > | as other glyphs
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "Δ": r"$\Delta$",  # pdfLaTeX's default encodings have no Greek
}
_CONTROL = re.compile(
    r"[\x00-\x09\x0b-\x1f\x7f-\x9f]"
)  # all but \n: a TeX line end, a terminal escape
_MARKDOWN = re.compile(r"([\\`*_\[\]|])")  # what makes emphasis, code, links or cells inline
_FORMULA = ("=", "+", "-", "@")  # a spreadsheet reads a cell starting so as a formula
_NUMBER = re.compile(r"-|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # or "-": no value


def wrap(text: str, width: int) -> str:
    """Text broken into lines of about `width` characters, at spaces and after hyphens (a
    column title, a long model name: a two-column paper's columns are narrow)."""
    lines: list[str] = []
    for token in re.split(r"(?<=-)|\s+", text):
        if not token:
            continue
        joint = "" if lines and lines[-1].endswith("-") else " "
        if lines and len(lines[-1]) + len(joint) + len(token) <= width:
            lines[-1] += joint + token
        else:
            lines.append(token)
    return "\n".join(lines) or text


def plain(text: str) -> str:
    """Control characters as spaces: a carriage return ends a TeX line (what follows on it is
    lost), an escape sequence rewrites a terminal."""
    return _CONTROL.sub(" ", text)


def latex_escape(text: str) -> str:
    """Text that TeX typesets as it reads, whatever it holds. A leading `[` or `*` is braced: after
    a row's `\\\\` or booktabs' `\\midrule` it would be read as their optional argument."""
    out = "".join(_LATEX.get(ch, ch) for ch in plain(text))
    return "{}" + out if out[:1] in ("[", "*") else out


def markdown_escape(text: str) -> str:
    """Text that Markdown (CommonMark, GFM tables) shows as it reads: HTML's specials as
    entities, inline markup characters and the cell separator backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", html.escape(plain(text), quote=False))


def csv_cell(text: str) -> str:
    """A cell a spreadsheet shows as text (OWASP's CSV injection advice): a tab or carriage
    return becomes a space (the csv module leaves a lone CR unquoted: a new row to a reader), and
    a cell starting with = + - @ gets a leading single quote; a plain number (-1.5, +0.3) stays
    a number."""
    text = plain(text)
    return "'" + text if text.startswith(_FORMULA) and not _NUMBER.fullmatch(text) else text


def _numeric(cells: list[str]) -> bool:
    """Numbers align right; names, notes and sources read better aligned left."""
    filled = [c for c in cells if c not in ("", "-")]
    return bool(filled) and all(c[0].isdigit() or c[0] in "+-[<" for c in filled)


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
    bold: set[tuple[int, int]] = field(default_factory=set)  # (row, column): a column's best

    def render(self, fmt: str) -> str:
        return {
            "table": self.text,
            "md": self.markdown,
            "csv": self.csv,
            "latex": self.latex,
            "html": self.html,
        }[fmt]()

    def _notes(self, escape) -> list[str]:
        """The notes, then the footnotes numbered, each escaped for the format."""
        return [escape(n) for n in self.notes] + [
            f"[{i}] {escape(n)}" for i, n in enumerate(self.footnotes, 1)
        ]

    def text(self) -> str:
        columns = [plain(_flat(c)) for c in self.columns]
        rows = [[plain(_flat(c)) for c in r] for r in self.rows]
        widths = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns))]
        numeric = [_numeric([r[i] for r in rows]) for i in range(len(columns))]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.rjust(w) if numeric[i] else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()

        out = [plain(self.title), line(columns), "  ".join("-" * w for w in widths)]
        for i, r in enumerate(rows):
            if i in self.sections:
                out.append(f"{plain(self.sections[i])}:")
            out.append(line(r))
        out += [f"  {n}" for n in self._notes(plain)]
        return "\n".join(out) + "\n"

    def markdown(self) -> str:
        def cell(c: str) -> str:
            return markdown_escape(_flat(c))

        out = [
            f"**{markdown_escape(self.title)}**",
            "",
            "| " + " | ".join(map(cell, self.columns)) + " |",
        ]
        out.append("|" + "|".join([" --- "] + [" ---: "] * (len(self.columns) - 1)) + "|")
        for i, r in enumerate(self.rows):
            if i in self.sections:
                blank = " |" * (len(self.columns) - 1)
                out.append(f"| *{cell(self.sections[i])}* |{blank}")
            cells = [f"**{cell(c)}**" if (i, j) in self.bold else cell(c) for j, c in enumerate(r)]
            out.append("| " + " | ".join(cells) + " |")
        out += [""] + [f"{n}  " for n in self._notes(markdown_escape)]
        return "\n".join(out) + "\n"

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([csv_cell(_flat(c)) for c in self.columns])
        writer.writerows([[csv_cell(_flat(c)) for c in r] for r in self.rows])
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
                    bold={(i, keep.index(j)) for i, j in self.bold if j in keep},
                )
            )
        return out

    def latex(self) -> str:
        return LATEX_PREAMBLE + "".join(part._latex_one() for part in self.parts())

    def _latex_cell(self, cell: str, align: str, body: bool, bold: bool = False) -> str:
        text, ref = _split_ref(cell, len(self.footnotes))
        lines = [latex_escape(x) for x in text.split("\n")]
        if bold:
            lines[0] = rf"\textbf{{{lines[0]}}}"
        if ref:
            lines[0] += rf"\textsuperscript{{{ref}}}"
        if len(lines) == 1:
            return lines[0]
        if body and align == "r":  # a number's second line (its CI) is set smaller
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
            out.append(rf"\label{{{_LABEL.sub('-', self.label)}}}")
        head = " & ".join(self._latex_cell(c, a, False) for c, a in zip(self.columns, aligns))
        out += [
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
            first = r[0] if "\n" in r[0] else wrap(r[0], FIRST_COLUMN_CHARS)
            cells = [
                self._latex_cell(c, a, True, (i, j) in self.bold)
                for j, (c, a) in enumerate(zip([first, *r[1:]], aligns))
            ]
            out.append(" & ".join(cells) + r" \\")
        out += [
            r"\bottomrule",
            r"\end{tabular}",
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

        def cell(c: str, tag: str, bold: bool = False) -> str:
            text, ref = _split_ref(c, len(self.footnotes))
            lines = [e(x) for x in text.split("\n")]
            if bold:
                lines[0] = f"<strong>{lines[0]}</strong>"
            inner = "<br>".join(lines)
            return f"<{tag}>{inner}" + (f"<sup>{ref}</sup>" if ref else "") + f"</{tag}>"

        head = "".join(cell(c, "th") for c in self.columns)
        body = []
        for i, r in enumerate(self.rows):
            if i in self.sections:
                body.append(
                    f'<tr class="section"><th colspan="{len(self.columns)}">'
                    f"{e(self.sections[i])}</th></tr>\n"
                )
            cells = "".join(cell(c, "td", (i, j) in self.bold) for j, c in enumerate(r))
            body.append(f"<tr>{cells}</tr>\n")
        notes = "".join(f'<p class="note">{e(n)}</p>' for n in self.notes)
        notes += "".join(
            f'<p class="note"><sup>{i}</sup> {e(n)}</p>' for i, n in enumerate(self.footnotes, 1)
        )
        return (
            f"<table>\n<caption>{e(self.title)}</caption>\n<thead><tr>{head}</tr></thead>\n"
            f"<tbody>\n{''.join(body)}</tbody>\n</table>\n{notes}\n"
        )
