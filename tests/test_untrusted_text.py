"""Untrusted text (model names, responses) stays inert in every format the harness writes:
leaderboard `show` and `compare` (table, md, csv, latex, html) and the report (Markdown, HTML,
LaTeX tables, figures). The LaTeX is compiled without shell escape, and nothing of a file outside
the output may reach its log."""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib import cbook
from matplotlib.text import Text
from test_leaderboards import record_run, suite_data

from harness.registry import ModelSpec, register
from harness.store import Store
from harness.suites import get_suite

SECRET = f"secret-{uuid.uuid4().hex}"  # the marker file's content: must never reach any output
PLAIN_NAMES = [
    "[x]",
    "a$b$c",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '=HYPERLINK("http://evil.example","click")',
    "+1",
    "@SUM(A1:A9)",
    "-2+3",
    "*star",
    "x % & _ # { } ~ ^ \\ y",
]
CONTROL = "ctrl\x1b[2J\rred"  # clears a terminal; a carriage return ends a TeX line
RESPONSE = "<script>alert(1)</script><img src=x onerror=alert(1)> \\csname @@input\\endcsname $x$ "
FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Hostile:
    store: Path
    names: list[str]  # the first reads the marker file, were it ever TeX input
    out: Path  # the built report


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("hostile")
    marker = root / "marker.txt"
    marker.write_text(SECRET + "\n")
    names = [f"\\csname @@input\\endcsname {marker} ", *PLAIN_NAMES, CONTROL]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ECD_HARNESS_REGISTRY", str(root / "registry.yaml"))
        store = Store(root / "store.sqlite")
        suite = get_suite("ifeval")
        items = suite_data("ifeval", data_dir)[:4]
        for i, name in enumerate(names):
            register(
                ModelSpec(name=name, source="none", params_b=1 + i, meta={"rounds": 1 + i % 3})
            )
            responses = [RESPONSE + it["prompt"][: 20 * (i + k)] for k, it in enumerate(items)]
            result = suite.score(items, responses)
            record_run(
                store,
                data_dir,
                "ifeval",
                name,
                result.metrics,
                result.records,
                sampling={"temperature": 0.0},
                breakdown=result.breakdown,
            )
        store.close()
        from reports.build import build_report
        from reports.spec import ReportSpec

        spec = ReportSpec(
            title=names[0] + " <b>report</b>",
            ecd=names[1:],
            baselines=names[:1],
            ablation_base=names[0],
            category_models=names[:3],
            suites=["ifeval"],
            examples=2,
            bootstrap=200,
        )
        report = build_report(spec, Store(root / "store.sqlite"), root / "out")
        yield Hostile(root / "store.sqlite", names, root / "out"), report


def _cli(capsys, *argv: str) -> str:
    from leaderboards.__main__ import main

    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def _outputs(capsys, hostile: Hostile, fmt: str) -> list[tuple[str, list[str]]]:
    """`show` (the suite's table and the combined one) and `compare` in one format, each with
    the names it shows."""
    store = ["--store", str(hostile.store)]
    a, b = hostile.names[0], hostile.names[4]
    show = ["show", "--format", fmt, "--no-published", *store]
    return [
        (_cli(capsys, *show, "--suite", "ifeval"), PLAIN_NAMES),
        (_cli(capsys, *show), PLAIN_NAMES),
        (_cli(capsys, "compare", a, b, "--format", fmt, "--bootstrap", "200", *store), [b]),
    ]


def _rendered_markdown(text: str) -> str:
    import markdown_it

    return markdown_it.MarkdownIt("commonmark").enable("table").render(text)


class _Tags(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _assert_inert_html(page: str, images: str) -> None:
    """No element from the untrusted text: no script, no event handler, every image ours."""
    tags = _Tags(page).tags
    assert "script" not in {tag for tag, _ in tags}
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")]
    assert all(attrs["src"].startswith(images) for tag, attrs in tags if tag == "img")


def test_markdown_shows_hostile_names_as_text(hostile, capsys):
    h, _ = hostile
    report = (h.out / "report.md").read_text()
    for md, names in [*_outputs(capsys, h, "md"), (report, PLAIN_NAMES)]:
        page = _rendered_markdown(md)
        _assert_inert_html(page, "figures/")
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        for name in names:
            assert name in text  # shown letter for letter, not taken as markup
    assert f"```text\n{RESPONSE}" in report  # model output stays fenced as it is


def test_html_shows_hostile_names_as_text(hostile, capsys):
    h, _ = hostile
    report = (h.out / "report.html").read_text()
    for page, names in [*_outputs(capsys, h, "html"), (report, PLAIN_NAMES)]:
        _assert_inert_html(page, "data:image/png;base64,")
        for name in names:
            assert html.escape(name) in page


def test_csv_cells_never_start_a_formula(hostile, capsys):
    h, _ = hostile
    outputs = _outputs(capsys, h, "csv")
    for out, _ in outputs:
        for row in csv.reader(io.StringIO(out)):
            for cell in row:
                if cell.startswith(FORMULA):
                    float(cell)  # a plain number (a delta such as -1.5) is the one exception
    show = [c for row in csv.reader(io.StringIO(outputs[0][0])) for c in row]
    for name in ("-2+3", '=HYPERLINK("http://evil.example","click")', "@SUM(A1:A9)"):
        assert "'" + name in show
    assert "+1" in show and "ctrl [2J red" in show  # a number kept; a CR starts no new row


def test_text_table_has_no_control_characters(hostile, capsys):
    h, _ = hostile
    outputs = _outputs(capsys, h, "table")
    for out, _ in outputs:
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", out)
    assert "ctrl [2J red" in outputs[0][0]


def test_figures_draw_names_literally(hostile):
    _, report = hostile
    assert set(report.figures) == {
        "score_vs_params",
        "ifeval_categories",
        "ablation_deltas",
        "score_vs_rounds",
    }
    drawn = []
    for fig in report.figures.values():
        fig.draw_without_rendering()
        texts = [t.get_text() for t in fig.findobj(Text) if t.get_text()]
        assert not [t for t in texts if cbook.is_math_text(t)]  # never mathtext
        drawn += texts
    assert any("a\\$b\\$c" in t for t in drawn)  # drawn as a$b$c


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_compiles_and_reads_no_file(hostile, capsys, tmp_path):
    """Every LaTeX output in one document: it compiles without shell escape, the names are set
    as text, and no TeX command in them ran (the marker file's content is not in the log)."""
    h, _ = hostile
    parts = [out for out, _ in _outputs(capsys, h, "latex")]
    parts += [t.read_text() for t in sorted((h.out / "tables").glob("*.tex"))]
    assert all(SECRET not in p for p in parts)
    body = "\n\\clearpage\n".join(parts)
    (tmp_path / "paper.tex").write_text(
        "\\documentclass[twocolumn]{article}\n\\usepackage{booktabs,graphicx}\n"
        f"\\begin{{document}}\n{body}\n\\end{{document}}\n"
    )
    done = subprocess.run(
        ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert done.returncode == 0, log[-3000:]
    assert SECRET not in log
    if shutil.which("pdftotext"):
        subprocess.run(["pdftotext", "paper.pdf"], cwd=tmp_path, check=True, timeout=60)
        text = (tmp_path / "paper.txt").read_text()
        for name in ("[x]", "a$b$c", "*star", "@SUM(A1:A9)", "\\csname @@input\\endcsname"):
            assert name in text
