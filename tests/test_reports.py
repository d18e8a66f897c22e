"""The ablation report built from real runs: files, figures, LaTeX, and the HTML page in Chromium."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from browser import chromium, needs_chromium
from matplotlib import image
from test_leaderboards import HOSTILE, Filled, build_filled_store

from harness.errors import HarnessError
from harness.store import Store
from leaderboards.render import MAX_COLUMNS, Table
from reports import style

SPEC = """
title: "ECD ablation <draft> & notes"
baselines: [smollm2-135m-instruct, zephyr-7b-beta, mistral-7b-instruct-v0.2]
ecd: [ecd-r1, ecd-r2, ecd-r3]
references: [llama-2-70b-chat, tulu-2-dpo-70b]
ablation_base: smollm2-135m-instruct
suites: [ifeval, mt_bench, alpaca_eval]
examples: 2
bootstrap: 500
"""


@pytest.fixture(scope="module")
def filled(tmp_path_factory, data_dir) -> Filled:
    return build_filled_store(tmp_path_factory.getbasetemp(), data_dir)


@pytest.fixture(scope="module")
def built(filled, tmp_path_factory):
    from reports.build import build_report
    from reports.spec import load_spec

    root = tmp_path_factory.mktemp("report")
    (root / "spec.yaml").write_text(SPEC)
    return build_report(load_spec(root / "spec.yaml"), Store(filled.path), root / "out")


def test_cli_builds_every_artefact(filled, tmp_path, capsys):
    from reports.__main__ import main

    (tmp_path / "spec.yaml").write_text(SPEC)
    out = tmp_path / "out"
    assert (
        main(["build", str(tmp_path / "spec.yaml"), "--out", str(out), "--store", str(filled.path)])
        == 0
    )
    assert "report.html" in capsys.readouterr().out
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    figs = {"score_vs_params", "ifeval_categories", "ablation_deltas", "score_vs_rounds"}
    assert names == (
        {"report.md", "report.html"}
        | {
            f"tables/{t}.tex"
            for t in ("leaderboard", "ifeval", "mt_bench", "alpaca_eval", "ablation", "changes")
        }
        | {f"figures/{f}.{ext}" for f in figs for ext in ("pdf", "png")}
    )
    assert not list(tmp_path.glob(".report-*"))  # the scratch folder is gone


def test_by_default_a_report_covers_the_suites_measured(filled, tmp_path):
    """Published numbers alone (AlpacaEval here, FollowBench, InFoBench...) make no table or
    figure unless the spec lists the suite."""
    from reports.build import build_report
    from reports.spec import load_spec

    (tmp_path / "spec.yaml").write_text(
        SPEC.replace("suites: [ifeval, mt_bench, alpaca_eval]\n", "")
    )
    report = build_report(load_spec(tmp_path / "spec.yaml"), Store(filled.path), tmp_path / "out")
    assert set(report.tables) == {"leaderboard", "ifeval", "mt_bench", "ablation", "changes"}


def test_latex_tables_are_booktabs_and_escaped(built):
    tex = (built.out / "tables" / "ablation.tex").read_text()
    for cmd in (
        "\\begin{tabular}{lrrrr}",  # variant, n, delta, CI, p: the suite is a row heading
        "\\toprule",
        "\\midrule",
        "\\bottomrule",
        "\\label{tab:ablation}",
        "\\multicolumn{5}{@{}l}{\\emph{IFEval prompt-strict}}",
    ):
        assert cmd in tex
    assert "smollm2-135m-instruct" in tex and "\\_" not in "smollm2-135m-instruct"
    leaderboard = (built.out / "tables" / "leaderboard.tex").read_text()
    assert "llama-2-70b-\\\\{}chat" in leaderboard and "6.86†\\textsuperscript{" in leaderboard
    # a long model name breaks after a hyphen: the column fits a two-column page unscaled
    assert "mistral-7b-\\\\{}instruct-v0.2" in leaderboard
    ifeval = (built.out / "tables" / "ifeval.tex").read_text()
    # the suite's own labels, not raw metric keys; _ and % escaped
    assert "prompt\\_level" not in ifeval and "inst\\_level" not in ifeval
    assert "inst-\\\\{}strict" in ifeval and "[95\\% CI]" in ifeval
    assert "gpt-4\\_single.jsonl" in (built.out / "tables" / "mt_bench.tex").read_text()


def test_report_tables_state_provenance_and_settings(built, filled):
    """Every number says where it is from: a measured number names its run and the settings
    stored with it (data version, sampling, judge); a published one cites a numbered source."""
    ifeval = built.tables["ifeval"]
    settings = [n for n in ifeval.notes if n.startswith("measured here")]
    for model in ("ecd-r1", "ecd-r2", "ecd-r3", "smollm2-135m-instruct"):
        assert any(f"{model}: run {filled.runs[('ifeval', model)]}" in n for n in settings)
    greedy = next(n for n in settings if "ecd-r1" in n)
    assert "sampling: greedy" in greedy and "max new tokens 32" in greedy
    assert "6 of 541 items" in greedy and "no judge" in greedy and "ifeval v" in greedy
    assert re.search(r"data [0-9a-f]{8}", greedy)
    imported = next(n for n in settings if "ecd-r3" in n)
    assert "sampling unknown (responses imported)" in imported
    mt = built.tables["mt_bench"]
    assert any("judgments imported (gpt-4)" in n for n in mt.notes)
    zephyr = next(r for r in mt.rows if r[0] == "zephyr-7b-beta")
    ref = int(re.search(r"\[(\d+)\]$", zephyr[1]).group(1))
    assert "Zephyr (arXiv 2310.16944)" in mt.footnotes[ref - 1]
    board = built.tables["leaderboard"]
    alpaca = [r[-1] for r in board.rows if r[-1] != "-"]
    assert len({c[c.index("[") :] for c in alpaca}) == 1  # one leaderboard, one footnote
    assert list(board.sections.values())[:3] == ["ECD (ours)", "Baselines", "References"]


def test_markdown_report(built):
    md = (built.out / "report.md").read_text()
    assert md.startswith("# ECD ablation &lt;draft&gt; &amp; notes")  # HTML-escaped
    assert "![Score vs parameter count" in md and "(figures/score_vs_params.png)" in md
    assert (
        "IFEval prompt-strict" in md and "Ablation: ECD variants minus smollm2-135m-instruct" in md
    )
    assert "```text\n" + HOSTILE in md  # model output fenced as text
    # the filled store's IFEval runs are --limit 6 and ecd-r3's responses imported: the summary,
    # the tables and the ablation say so
    assert re.search(
        r"best baseline smollm2-135m-instruct \d+\.\d \(partial: 6 of 541 items; settings: ", md
    )
    assert "> some numbers are partial (‡), not comparable" in md
    assert "‡ partial: 6 of 541 items: ecd-r3, ecd-r1, ecd-r2, smollm2-135m-instruct" in md
    ablation = md.split("**Ablation")[1].split("## Figures")[0]
    ifeval_rows = ablation.split("| *IFEval prompt-strict* |")[1].split("| *MT-Bench* |")[0]
    assert re.search(r"\| ecd-r3 \| 6 \| [+-]\d+\.\d‡§°¶ \|", ifeval_rows)
    assert "§ not comparable: sampling settings unknown for imported responses" in ablation


def _pdf_pages(path: Path) -> int:
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", data))


def test_figures_open_with_expected_axes_and_series(built):
    figs = built.figures
    assert set(figs) == {
        "score_vs_params",
        "ifeval_categories",
        "ablation_deltas",
        "score_vs_rounds",
    }
    for name, fig in figs.items():
        w, h = fig.get_size_inches()
        assert w in (style.SINGLE, style.DOUBLE)
        png = image.imread(built.out / "figures" / f"{name}.png")
        assert png.shape[:2] == (round(h * style.DPI), round(w * style.DPI))
        assert _pdf_pages(built.out / "figures" / f"{name}.pdf") == 1

    scaling = figs["score_vs_params"].axes
    assert [ax.get_title() for ax in scaling] == [
        "IFEval prompt-strict",
        "MT-Bench",
        "AlpacaEval 2.0 win rate",
    ]
    assert all(ax.get_xscale() == "log" and "parameters" in ax.get_xlabel() for ax in scaling)
    assert scaling[1].get_ylabel() == "MT-Bench (/10)"
    # ifeval: measured baseline + measured ECD; mt_bench: + published 7B and published 70B;
    # alpaca_eval: published only (no ECD AlpacaEval run in this store)
    assert [len(ax.containers) for ax in scaling] == [2, 4, 2]
    ecd_colour = style.GROUP_STYLE["ecd"][0].lower()
    ecd_points = [c for c in scaling[0].containers if c.lines[0].get_color().lower() == ecd_colour]
    assert len(ecd_points) == 1 and len(ecd_points[0].lines[0].get_xdata()) == 3
    legend = [t.get_text() for t in figs["score_vs_params"].legends[0].get_texts()]
    # the sizes the groups have: the measured baseline is the 135M embedded model, not a 7B one
    assert legend == [
        "ECD (ours, 135M)",
        "baselines (135M)",
        "baselines (7B, published)",
        "references (69B, published)",
    ]

    [cats] = figs["ifeval_categories"].axes
    labels = [t.get_text() for t in figs["ifeval_categories"].legends[0].get_texts()]
    assert labels == ["smollm2-135m-instruct", "ecd-r1", "ecd-r2", "ecd-r3"]
    assert len(cats.patches) == 4 * len(cats.get_yticklabels()) and cats.get_xlim() == (0, 100)

    ablation = figs["ablation_deltas"].axes
    assert [ax.get_title() for ax in ablation] == ["IFEval prompt-strict", "MT-Bench"]
    assert [t.get_text() for t in ablation[0].get_yticklabels()] == ["ecd-r1", "ecd-r2", "ecd-r3"]
    assert [len(ax.containers[0].lines[0].get_xdata()) for ax in ablation] == [3, 2]
    mt_deltas = ablation[1].containers[0].lines[0].get_xdata()
    assert all(d > 0 for d in mt_deltas)  # constructed MT-Bench: ECD about +1

    rounds = figs["score_vs_rounds"].axes
    assert [ax.get_xlabel() for ax in rounds] == ["evolution rounds"] * 2
    assert list(rounds[0].containers[0].lines[0].get_xdata()) == [1.0, 2.0, 3.0]
    assert list(rounds[1].containers[0].lines[0].get_xdata()) == [1.0, 2.0]


def test_figures_read_well(built):
    """Every text inside the canvas, every plotted point named, nothing hidden, 0 % visible."""
    for name, fig in built.figures.items():
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()
        w, h = fig.get_size_inches()
        tight = fig.get_tightbbox(renderer)  # what is drawn, in inches
        assert tight.x0 >= -0.01 and tight.y0 >= -0.01, (name, tight)
        assert tight.x1 <= w + 0.01 and tight.y1 <= h + 0.01, (name, tight)
        texts = [*fig.texts, *(t for ax in fig.axes for t in ax.texts)]
        texts += [
            t for ax in fig.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label) if t.get_text()
        ]
        texts += [t for legend in fig.legends for t in legend.get_texts()]
        for text in texts:
            box = text.get_window_extent(renderer)
            assert fig.bbox.x0 - 1 <= box.x0 and box.x1 <= fig.bbox.x1 + 1, (name, text)
            assert fig.bbox.y0 - 1 <= box.y0 and box.y1 <= fig.bbox.y1 + 1, (name, text)
    ablation = built.figures["ablation_deltas"]
    assert all("smollm2" not in ax.get_xlabel() for ax in ablation.axes)  # short axis labels
    assert "smollm2-135m-instruct" in ablation.get_supxlabel()

    scaling = built.figures["score_vs_params"].axes
    mt = scaling[1]
    named = ", ".join(t.get_text() for t in mt.texts)
    for model in (
        "ecd-r1",
        "ecd-r2",
        "smollm2-135m-instruct",
        "llama-2-70b-chat",
        "tulu-2-dpo-70b",
    ):
        assert model in named
    ecd_colour = style.GROUP_STYLE["ecd"][0].lower()
    z = {c.lines[0].get_color().lower(): c.lines[0].get_zorder() for c in mt.containers}
    assert z[ecd_colour] == max(z.values())  # ECD on top
    # models of one size are spread apart, never drawn on one another
    xs = [x for c in scaling[0].containers for x in c.lines[0].get_xdata()]
    assert len(set(xs)) == len(xs) == 4
    published = [c for c in mt.containers if c.lines[0].get_markerfacecolor() == "white"]
    assert len(published) == 2  # hollow: published 7B baseline and 70B references

    [cats] = built.figures["ifeval_categories"].axes
    zeros = [t for t in cats.texts if t.get_text() == "0"]
    widths = [p.get_width() for p in cats.patches]
    assert len(zeros) == sum(1 for w in widths if w == 0) > 0


def test_table_split_sections_and_footnotes():
    wide = Table(
        "Wide",
        ["model", *(f"c{i}" for i in range(8))],
        [["a_b", *(f"{i}.0" for i in range(7)), "9.0†[2]"], ["c", *["1.0"] * 8]],
        ["note with 50%"],
        label="tab:wide",
        footnotes=["first source", "second source"],
        sections={0: "Group A", 1: "Group B"},
    )
    parts = wide.parts()
    assert [len(p.columns) for p in parts] == [MAX_COLUMNS, 4]
    assert all(p.columns[0] == "model" for p in parts)
    assert [p.label for p in parts] == ["tab:wide", "tab:wide-2"]
    assert parts[0].footnotes == [] and parts[1].footnotes == ["", "second source"]
    tex = wide.latex()
    assert tex.count("\\begin{table}") == 2 and "a\\_b" in tex and "50\\%" in tex
    assert "9.0†\\textsuperscript{2}" in tex and "\\emph{Group B}" in tex
    assert "\\textsuperscript{2}second source" in tex and "first source" not in tex
    md = wide.markdown()
    assert "| *Group A* |" in md and "[2] second source" in md
    html = wide.html()
    assert "<sup>2</sup>" in html and 'colspan="9">Group B' in html
    stacked = Table("S", ["model", "score\n[95% CI]"], [["m", "1.0\n[0.5, 1.5]"]])
    assert "score [95% CI]" in stacked.text() and "1.0 [0.5, 1.5]" in stacked.csv()
    # a line starting with "[" is braced: it is never an optional argument of \\ or \midrule
    assert "\\begin{tabular}[t]{@{}r@{}}1.0\\\\{}{\\scriptsize {}[0.5, 1.5]}" in stacked.latex()


TEX_DOC = r"""\documentclass[twocolumn]{article}
\usepackage{booktabs}
\begin{document}
%s
Text.
\clearpage
\end{document}
"""


def _tex_engine() -> list[str] | None:
    if shutil.which("pdflatex"):
        return ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"]
    if shutil.which("tectonic"):
        return ["tectonic", "--keep-logs", "--keep-intermediates", "paper.tex"]
    return None


@pytest.mark.skipif(
    _tex_engine() is None,
    reason="no TeX engine (pdflatex or tectonic): apt-get install -y texlive-latex-base "
    "texlive-latex-recommended",
)
def test_latex_tables_fit_one_column_of_a_two_column_paper(built, tmp_path):
    """The report's tables, compiled as a two-column article with only the package their first
    line names: no overfull line, at most MAX_COLUMNS columns each, never scaled, no output on
    the terminal, the best measured number of each column in bold."""
    import subprocess

    tables = sorted((built.out / "tables").glob("*.tex"))
    shutil.copytree(built.out / "tables", tmp_path / "tables")
    inputs = "\n".join(f"\\input{{tables/{t.stem}}}" for t in tables)
    (tmp_path / "paper.tex").write_text(TEX_DOC % inputs)
    done = subprocess.run(_tex_engine(), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert done.returncode == 0, log[-3000:]
    overfull = [
        float(m.group(1)) for m in re.finditer(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)
    ]
    assert overfull == [], re.findall(r"Overfull.*", log)
    for t in tables:
        tex = t.read_text()
        assert tex.startswith("% needs \\usepackage{booktabs} in the preamble")
        assert "\\resizebox" not in tex and "\\typeout" not in tex and "\\sbox" not in tex
        for spec in re.findall(r"\\begin\{tabular\}\{([lrc]+)\}", tex):
            assert len(spec) <= MAX_COLUMNS
    assert "\\textbf{" in (built.out / "tables" / "ifeval.tex").read_text()
    if shutil.which("pdftoppm"):  # pages to look at, kept beside the report
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", "paper.pdf", str(built.out / "tables-page")],
            cwd=tmp_path,
            check=True,
            timeout=120,
        )


def test_failed_build_leaves_nothing(filled, tmp_path):
    from reports.build import build_report
    from reports.spec import ReportSpec, load_spec

    with pytest.raises(HarnessError, match="'never-run'"):
        build_report(ReportSpec(ecd=["never-run"]), Store(filled.path), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (tmp_path / "bad.yaml").write_text("ecd: [a]\nbaseline: [b]\n")
    with pytest.raises(HarnessError, match="unknown keys \\['baseline'\\]"):
        load_spec(tmp_path / "bad.yaml")
    (tmp_path / "code.yaml").write_text("ecd: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(HarnessError, match="not valid YAML"):
        load_spec(tmp_path / "code.yaml")


def test_html_is_self_contained_and_escapes_outputs(built):
    page = (built.out / "report.html").read_text()
    assert "<script" not in page and "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)|url\(""", page)
    assert page.count('src="data:image/png;base64,') == 4
    assert "<title>ECD ablation &lt;draft&gt; &amp; notes</title>" in page


@needs_chromium
def test_html_report_in_headless_chromium(built, tmp_path):
    from selenium.webdriver.common.by import By

    with chromium(tmp_path / "profile") as driver:
        driver.get((built.out / "report.html").as_uri())
        assert driver.title == "ECD ablation <draft> & notes"
        assert driver.execute_script("return typeof window.__pwned") == "undefined"
        assert driver.find_elements(By.TAG_NAME, "script") == []
        responses = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "pre.response")]
        assert any(r.startswith(HOSTILE) for r in responses)  # shown as text, never run
        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) == 4  # the figures only: the hostile <img> is text
        assert all(driver.execute_script("return arguments[0].naturalWidth", i) > 0 for i in images)
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot))
        assert image.imread(shot).shape[1] > 0
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    shutil.copy(shot, built.out / "screenshot.png")  # kept beside the report for a look


def test_report_and_compare_print_the_same_interval(built, filled, capsys):
    """The ablation table's delta, CI and p are `compare`'s, at the same resample count (the
    spec's), on every suite."""
    from harness import cli
    from leaderboards.board import suite_of

    table = built.tables["ablation"]
    section, by_suite = "", {}
    for i, row in enumerate(table.rows):
        section = table.sections.get(i, section)
        by_suite[(section, row[0])] = row
    for suite in ("ifeval", "mt_bench"):
        argv = ["compare", "smollm2-135m-instruct", "ecd-r1", "--suite", suite, "--format", "csv"]
        capsys.readouterr()
        assert cli.main([*argv, "--bootstrap", "500", "--store", str(filled.path)]) == 0
        printed = capsys.readouterr().out.splitlines()
        header, values = printed[0].split(","), printed[1]
        row = by_suite[(suite_of(suite).headline.label, "ecd-r1")]
        assert f'"{row[3]}"' in values, (header, values, row)  # the CI cell, as compare prints it
        assert row[2].rstrip("‡§¶°") in values  # the delta


def test_what_changed_is_compare_items(built, filled, capsys):
    """The report's "what changed" counts are the items `compare --items` lists, per variant."""
    from harness import cli
    from leaderboards.board import suite_of

    table = built.tables["changes"]
    section, rows = "", {}
    for i, row in enumerate(table.rows):
        section = table.sections.get(i, section)
        rows[(section, row[0])] = row
    assert len(rows) >= 4
    for (label, model), row in rows.items():
        suite = next(s for s in ("ifeval", "mt_bench") if suite_of(s).headline.label == label)
        argv = ["compare", "smollm2-135m-instruct", model, "--suite", suite, "--items"]
        capsys.readouterr()
        code = cli.main(
            [*argv, "--format", "json", "--allow-incomparable", "--store", str(filled.path)]
        )
        assert code == 0
        listed = json.loads(capsys.readouterr().out)[0]["changed_items"]
        better = sum(x["direction"] == "better" for x in listed)
        assert (row[1], row[2]) == (str(better), str(len(listed) - better))
    assert "what changed" in (built.out / "report.html").read_text().lower()


def _served_store(tmp_path: Path) -> Path:
    """Two unregistered models served by an OpenAI-compatible endpoint, run on IFEval: no
    parameter count, no registry entry, an endpoint fingerprint in every run."""
    from openai_server import OpenAIServer

    from harness import cli

    def a(body: dict) -> str:
        return "Sure. Here is my answer, all in lower case."

    def b(body: dict) -> str:
        return "* first point\n* second point\n* third point\nP.S. SEE YOU <b>SOON</b>"

    store = tmp_path / "served.sqlite"
    for name, responder in (("org/served-a", a), ("org/served-b", b)):
        with OpenAIServer(responder) as server:
            argv = ["run", "--suite", "ifeval", "--model", name, "--backend", "openai"]
            argv += ["--base-url", server.base_url, "--limit", "12", "--store", str(store)]
            assert cli.main([*argv, "--quiet"]) in (0, 3)
    return store


def test_report_of_unregistered_endpoint_models_reads_well(tmp_path):
    """No parameter count: no empty score-vs-size panels, a note instead; the settings are said in
    words (no endpoint fingerprint, no None); the tables compile in a two-column article."""
    import subprocess

    from reports.build import build_report
    from reports.spec import load_spec

    store = _served_store(tmp_path)
    (tmp_path / "spec.yaml").write_text(
        "title: Served models\nbaselines: [org/served-a]\necd: [org/served-b]\n"
        "ablation_base: org/served-a\ncategory_models: [org/served-a, org/served-b]\n"
        "published: false\nbootstrap: 500\n"
    )
    out = tmp_path / "out"
    report = build_report(load_spec(tmp_path / "spec.yaml"), Store(store), out)
    assert "score_vs_params" not in report.figures
    assert not (out / "figures" / "score_vs_params.png").exists()
    assert any("no score-vs-size figure: no model has a parameter count" in n for n in report.notes)
    assert set(report.figures) == {"ifeval_categories", "ablation_deltas"}
    notes = [n for t in report.tables.values() for n in t.notes]
    text = "\n".join(notes)
    for fingerprint in ("openai:", '"card"', "127.0.0.1", "None", "{"):
        assert fingerprint not in text, (fingerprint, text)
    assert "sampling: greedy" in text
    assert len(notes) == len(set(notes))  # each footnote once
    if _tex_engine() is None:
        return
    shutil.copytree(out / "tables", tmp_path / "tables")
    inputs = "\n".join(f"\\input{{tables/{t.stem}}}" for t in sorted(out.glob("tables/*.tex")))
    (tmp_path / "paper.tex").write_text(TEX_DOC % inputs)
    done = subprocess.run(_tex_engine(), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert done.returncode == 0 and "Overfull" not in log, log[-3000:]
