"""The ablation report built from real runs: files, figures, LaTeX, and the HTML page in Chromium."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from matplotlib import image
from test_leaderboards import HOSTILE, Filled, build_filled_store

from harness.errors import HarnessError
from harness.store import Store
from reports import style

SPEC = """
title: "ECD ablation <draft> & notes"
baselines: [smollm2-135m-instruct, zephyr-7b-beta, mistral-7b-instruct-v0.2]
ecd: [ecd-r1, ecd-r2, ecd-r3]
references: [llama-2-70b-chat, tulu-2-dpo-70b]
ablation_base: smollm2-135m-instruct
examples: 2
bootstrap: 500
"""
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


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
            for t in ("leaderboard", "ifeval", "mt_bench", "alpaca_eval", "ablation")
        }
        | {f"figures/{f}.{ext}" for f in figs for ext in ("pdf", "png")}
    )
    assert not list(tmp_path.glob(".report-*"))  # the scratch folder is gone


def test_latex_tables_are_booktabs_and_escaped(built):
    tex = (built.out / "tables" / "ablation.tex").read_text()
    for cmd in (
        "\\begin{tabular}{lrrrrrrr}",
        "\\toprule",
        "\\midrule",
        "\\bottomrule",
        "\\label{tab:ablation}",
    ):
        assert cmd in tex
    assert "smollm2-135m-instruct" in tex and "\\_" not in "smollm2-135m-instruct"
    leaderboard = (built.out / "tables" / "leaderboard.tex").read_text()
    assert "llama-2-70b-chat" in leaderboard and "6.86†" in leaderboard
    ifeval = (built.out / "tables" / "ifeval.tex").read_text()
    assert "prompt\\_level\\_strict\\_acc [95\\% CI]" in ifeval  # _ and % escaped


def test_markdown_report(built):
    md = (built.out / "report.md").read_text()
    assert md.startswith("# ECD ablation <draft> & notes")
    assert "![Score vs parameter count" in md and "(figures/score_vs_params.png)" in md
    assert (
        "IFEval prompt-strict" in md and "Ablation: ECD variants minus smollm2-135m-instruct" in md
    )
    assert "```text\n" + HOSTILE in md  # model output fenced as text
    # the filled store's IFEval runs are --limit 6 and ecd-r3's responses imported: the summary,
    # the tables and the ablation say so
    assert re.search(r"best baseline smollm2-135m-instruct \d+\.\d \(partial: 6 of 541 items\)", md)
    assert "> some numbers are partial (‡), not comparable" in md
    assert "| ‡ partial: 6 of 541 items |" in md
    ablation = md.split("**Ablation")[1].split("## Figures")[0]
    assert re.search(r"\| ecd-r3 \| IFEval prompt-strict \| 6 \| [+-]\d+\.\d‡§¶ \|", ablation)
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
    assert "70B references (published)" in legend and "ECD (ours)" in legend

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


@pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="Chromium not installed: apt-get install -y chromium chromium-driver",
)
def test_html_report_in_headless_chromium(built, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,900",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
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
    finally:
        driver.quit()
    shutil.copy(shot, built.out / "screenshot.png")  # kept beside the report for a look
