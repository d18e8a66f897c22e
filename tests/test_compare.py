"""Paired statistics on constructed cases with known answers, and `harness compare` on real runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from browser import chromium, needs_chromium
from test_leaderboards import Filled, build_filled_store

from harness import cli
from harness.store import Store
from leaderboards import stats


@pytest.fixture(scope="module")
def filled(tmp_path_factory, data_dir) -> Filled:
    return build_filled_store(tmp_path_factory.getbasetemp(), data_dir)


def _pairs(a_only: int, b_only: int, both: int = 3, neither: int = 2):
    a = [1] * a_only + [0] * b_only + [1] * both + [0] * neither
    b = [0] * a_only + [1] * b_only + [1] * both + [0] * neither
    return a, b


@pytest.mark.parametrize(
    "a_only,b_only,expected",
    [
        (1, 6, 2 * (1 + 7) / 2**7),  # 2 * P(X <= 1), X ~ Bin(7, 1/2) = 0.125
        (0, 5, 2 / 2**5),  # 0.0625: not significant at 0.05 even though B wins 5-0
        (0, 6, 2 / 2**6),  # 0.03125: significant
        (3, 3, 1.0),  # two-sided p capped at 1
        (0, 0, 1.0),  # no discordant pairs
        (2, 10, 2 * (1 + 12 + 66) / 2**12),  # 0.03857
    ],
)
def test_mcnemar_exact_matches_hand_computation(a_only, b_only, expected):
    p, low, high, b, c = stats.mcnemar(*_pairs(a_only, b_only))
    assert (b, c) == (a_only, b_only)
    assert p == pytest.approx(expected, rel=1e-12)
    assert (low > 0.5 or high < 0.5) == (p < 0.05)


def test_scipy_binomtest_gives_the_old_exact_mcnemar_p_values():
    """The p-values `binomtest` gives are the ones the hand-written exact test gave (2 * the
    smaller binomial tail, capped at 1), at every split of up to 60 discordant pairs (the old
    code switched to chi-square above 25; the exact test now holds everywhere)."""
    from scipy import stats as st

    for n in range(1, 61):
        for c in range(n + 1):
            old = min(1.0, 2 * float(st.binom.cdf(min(c, n - c), n, 0.5)))
            p = stats.mcnemar(*_pairs(n - c, c))[0]
            assert p == pytest.approx(old, rel=1e-9, abs=1e-15), (n, c)


def _old_paired_bootstrap_ci(num_a, den_a, num_b, den_b, n_boot, seed, alpha):
    """The interval as the hand-written bootstrap computed it before scipy's (the reference)."""
    num_a, den_a, num_b, den_b = (np.asarray(x, float) for x in (num_a, den_a, num_b, den_b))
    idx = np.random.default_rng(seed).integers(0, len(num_a), size=(n_boot, len(num_a)))
    boots = num_b[idx].sum(-1) / den_b[idx].sum(-1) - num_a[idx].sum(-1) / den_a[idx].sum(-1)
    return np.percentile(boots, [100 * alpha / 2, 100 * (1 - alpha / 2)])


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_scipy_paired_bootstrap_gives_the_old_intervals(seed):
    """`scipy.stats.bootstrap(paired=True)` draws the same item indices from the same seeded
    generator and takes the same percentiles: the intervals are today's, to the last bit."""
    rng = np.random.default_rng(seed + 100)
    num_a = rng.integers(1, 11, size=80).astype(float)
    den = rng.integers(1, 3, size=80).astype(float)
    num_b = num_a + rng.integers(-2, 4, size=80)
    r = stats.paired_bootstrap(num_a, den, num_b, den, n_boot=3000, seed=seed)
    old = _old_paired_bootstrap_ci(num_a, den, num_b, den, 3000, seed, 0.05)
    assert (r.ci_low, r.ci_high) == (old[0], old[1])
    assert r.details == {"resamples": 3000, "seed": seed}
    one = stats.bootstrap_ci(num_a, den, n_boot=3000, seed=seed)
    idx = np.random.default_rng(seed).integers(0, 80, size=(3000, 80))
    single = np.percentile(num_a[idx].sum(-1) / den[idx].sum(-1), [2.5, 97.5])
    assert (one.low, one.high) == (single[0], single[1])


def test_interval_and_p_value_never_disagree():
    """Over many simulated pairs, at several levels, and on both procedures: the interval
    excludes 0 exactly when p < alpha (and both kinds of outcome occur)."""
    rng = np.random.default_rng(11)
    outcomes = set()
    for t in range(80):
        n, shift = int(rng.integers(5, 120)), rng.uniform(-0.25, 0.25)
        a = rng.random(n) < 0.5
        b = np.where(rng.random(n) < 0.3, rng.random(n) < 0.5 + shift, a)
        num_a = rng.integers(1, 11, size=n).astype(float)
        num_b = np.clip(num_a + rng.normal(shift * 4, 2, size=n).round(), 1, 10)
        ones = np.ones(n)
        for alpha in (0.01, 0.05, 0.1, 0.2):
            for r in (
                stats.paired_binary(a, b, alpha=alpha),
                stats.paired_bootstrap(num_a, ones, num_b, ones, 500, t, alpha),
            ):
                excludes = r.ci_low > 0 or r.ci_high < 0
                assert excludes == r.significant, (t, alpha, r)
                assert r.ci_low <= r.delta <= r.ci_high or r.test != "McNemar exact"
                outcomes.add((r.test, excludes))
    assert len(outcomes) == 4


def test_the_issue_example_now_agrees():
    """B wins 5 discordant pairs of 5 on 20 prompts: +25 points, p = 0.0625. The bootstrap
    interval was [+10, +45], clear of 0 beside a test that did not reject; the exact interval
    includes 0, as the test says."""
    r = stats.paired_binary(*_pairs(0, 5, both=3, neither=12))
    assert (r.n, r.delta, r.p_value, r.significant) == (20, 0.25, 0.0625, False)
    assert r.ci_low < 0 < r.ci_high == 0.25


def test_identical_models_have_zero_difference_and_are_not_significant():
    rng = np.random.default_rng(7)
    acc = rng.random(200) < 0.4
    r = stats.paired_binary(acc, acc)
    assert (r.delta, r.ci_low, r.ci_high, r.p_value, r.significant) == (0.0, 0.0, 0.0, 1.0, False)
    scores = rng.integers(1, 11, size=80).astype(float)
    ones = np.ones_like(scores)
    r = stats.paired_bootstrap(scores, ones, scores, ones)
    assert (r.delta, r.ci_low, r.ci_high, r.p_value, r.significant) == (0.0, 0.0, 0.0, 1.0, False)


def test_exact_interval_covers_known_difference():
    """95% intervals over simulated paired data cover the true difference about 95% of the time."""
    rng = np.random.default_rng(0)
    true_delta, covered, significant = 0.1, 0, 0
    trials = 60
    for _ in range(trials):
        a = rng.random(400) < 0.5
        b = rng.random(400) < 0.6  # true accuracy difference 0.1
        r = stats.paired_binary(a, b)
        assert r.delta == pytest.approx(b.mean() - a.mean())
        covered += r.ci_low <= true_delta <= r.ci_high
        significant += r.significant
    assert 0.85 <= covered / trials <= 1.0
    assert significant / trials > 0.8  # n=400 has good power for a 10-point difference


def test_paired_bootstrap_on_ratio_scores_and_pairing():
    """MT-Bench-style: B scores exactly 1 point more per turn; one judged turn missing in both."""
    rng = np.random.default_rng(3)
    a = rng.integers(1, 9, size=(60, 2)).astype(float)
    den = np.full(60, 2.0)
    den[0] = 1.0
    num_a = a.sum(1)
    num_a[0] = a[0, 0]
    num_b = num_a + den  # +1 on every judged turn
    r = stats.paired_bootstrap(num_a, den, num_b, den, n_boot=1000)
    assert r.delta == pytest.approx(1.0) and r.ci_low == pytest.approx(1.0)
    assert r.ci_high == pytest.approx(1.0) and r.p_value < 0.01 and r.significant


def test_bootstrap_is_seeded_and_deterministic():
    rng = np.random.default_rng(1)
    a, b = rng.integers(1, 11, 100), rng.integers(1, 11, 100)
    ones = np.ones(100)
    one, two = (stats.paired_bootstrap(a, ones, b, ones, seed=5) for _ in range(2))
    assert (one.ci_low, one.ci_high, one.p_value) == (two.ci_low, two.ci_high, two.p_value)
    other = stats.paired_bootstrap(a, ones, b, ones, seed=6)
    assert (other.ci_low, other.ci_high) != (one.ci_low, one.ci_high)


def _compare(capsys, *args: str) -> list[dict]:
    capsys.readouterr()
    assert cli.main(["compare", *args, "--format", "json", "--bootstrap", "2000"]) == 0
    return json.loads(capsys.readouterr().out)


def test_compare_real_ifeval_checkpoints(filled, capsys):
    store = Store(filled.path)
    [c] = _compare(
        capsys, "smollm2-135m-instruct", "ecd-r1", "--suite", "ifeval", "--store", str(filled.path)
    )
    base, ecd = (
        store.latest_run("ifeval", "smollm2-135m-instruct"),
        store.latest_run("ifeval", "ecd-r1"),
    )
    assert (c["run_a"], c["run_b"], c["n"]) == (base.id, ecd.id, 6)
    assert c["a"] == pytest.approx(100 * base.metrics["prompt_level_strict_acc"])
    assert c["b"] == pytest.approx(100 * ecd.metrics["prompt_level_strict_acc"])
    assert c["delta"] == pytest.approx(c["b"] - c["a"])
    assert c["test"] == "McNemar exact" and c["ci_low"] <= c["delta"] <= c["ci_high"]
    a = [r["prompt_strict"] for r in store.scores(base.id)]
    b = [r["prompt_strict"] for r in store.scores(ecd.id)]
    assert c["details"]["a_only"] == sum(x and not y for x, y in zip(a, b))
    assert c["p_value"] == stats.mcnemar(a, b)[0]
    assert c["interval"].startswith("exact") and (c["ci_low"] > 0 or c["ci_high"] < 0) == (
        c["p_value"] < 0.05
    )
    # ecd-r2 shares ecd-r1's generations: a real identical pair
    [same] = _compare(capsys, "ecd-r1", "ecd-r2", "--suite", "ifeval", "--store", str(filled.path))
    assert (same["delta"], same["p_value"], same["significant"]) == (0.0, 1.0, False)


def test_compare_all_common_suites_by_model_name(filled, capsys):
    out = {
        c["suite"]: c
        for c in _compare(capsys, "smollm2-135m-instruct", "ecd-r1", "--store", str(filled.path))
    }
    assert set(out) == {"ifeval", "mt_bench"}  # no AlpacaEval run for these two
    mt = out["mt_bench"]
    store = Store(filled.path)
    assert mt["a"] == pytest.approx(
        store.latest_run("mt_bench", "smollm2-135m-instruct").metrics["mt_bench_score"]
    )
    assert mt["test"] == "paired bootstrap" and mt["n"] == 80
    assert mt["significant"] and mt["ci_low"] > 0  # constructed: about one point better per turn


def test_compare_alpaca_eval_win_rates_from_real_annotations(filled, capsys, data_dir):
    import csv

    with open(data_dir / "alpaca_eval" / "weighted_alpaca_eval_gpt4_turbo_leaderboard.csv") as f:
        board = {r[""]: float(r["win_rate"]) for r in csv.DictReader(f)}
    [c] = _compare(
        capsys, "gemma-7b-it", "claude-2.1", "--suite", "alpaca_eval", "--store", str(filled.path)
    )
    assert c["a"] == pytest.approx(board["gemma-7b-it"], abs=1e-6)
    assert c["b"] == pytest.approx(board["claude-2.1"], abs=1e-6)
    assert c["delta"] == pytest.approx(board["claude-2.1"] - board["gemma-7b-it"], abs=1e-6)
    assert c["significant"] and 0 < c["ci_low"] < c["delta"] < c["ci_high"]


def test_compare_refuses_imported_responses_against_a_real_run(filled, capsys):
    """ecd-r3's responses were imported (sampling unknown): not comparable with a real run."""
    argv = ["compare", "smollm2-135m-instruct", "ecd-r3", "--suite", "ifeval"]
    capsys.readouterr()
    assert cli.main([*argv, "--store", str(filled.path)]) == 2
    err = capsys.readouterr().err
    assert "not comparable: sampling settings unknown for imported responses" in err
    assert err.count("\n") == 1


def test_compare_errors(filled, capsys, tmp_path):
    assert (
        cli.main(["compare", "nobody", "ecd-r1", "--suite", "ifeval", "--store", str(filled.path)])
        == 2
    )
    err = capsys.readouterr().err
    assert "'nobody'" in err and "python -m harness run" in err and err.count("\n") == 1
    assert cli.main(["compare", "a", "b", "--store", str(tmp_path / "none.sqlite")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite").exists()  # reading never creates a store


def test_compare_is_leaderboards_command_and_harness_hands_it_over(filled, capsys):
    from leaderboards.cli import main as leaderboards_main

    argv = ["compare", "ecd-r1", "ecd-r2", "--suite", "ifeval", "--store", str(filled.path)]
    capsys.readouterr()
    assert leaderboards_main(argv) == 0
    table = capsys.readouterr().out
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == table
    assert cli.main(["compare", "ecd-r1"]) == 2  # usage lines still name `python -m harness`
    assert capsys.readouterr().err.startswith("error: python -m harness compare: ")


def test_interval_and_p_value_agree_on_real_pairs_of_runs(filled, capsys):
    """Every pair of the filled store's checkpoints, on every suite both ran: the interval
    `compare` prints excludes 0 exactly when it calls the difference significant."""
    import itertools

    models = ["smollm2-135m-instruct", "ecd-r1", "ecd-r2", "ecd-r3", "gemma-7b-it", "claude-2.1"]
    seen = []
    for a, b in itertools.combinations(models, 2):
        argv = ["compare", a, b, "--format", "json", "--allow-incomparable"]
        capsys.readouterr()
        if cli.main([*argv, "--store", str(filled.path)]) != 0:
            continue  # no suite in common
        for c in json.loads(capsys.readouterr().out):
            assert (c["ci_low"] > 0 or c["ci_high"] < 0) == c["significant"], (a, b, c)
            seen.append((c["suite"], c["significant"]))
    assert len(seen) >= 5 and {s for s, _ in seen} == {"ifeval", "mt_bench", "alpaca_eval"}
    assert {sig for _, sig in seen} == {True, False}


def _items(capsys, filled, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["compare", *args, "--items", "--store", str(filled.path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_items_lists_the_flipped_prompts_with_both_sides(filled, capsys, tmp_path):
    """ecd-r3 answers ecd-r2's responses behind hostile markup: the prompts whose verdict that
    flipped, with both responses and per-instruction verdicts, as JSON, a page and a CSV."""
    import csv

    from test_leaderboards import HOSTILE

    argv = ["smollm2-135m-instruct", "ecd-r3", "--suite", "ifeval", "--allow-incomparable"]
    code, out, _ = _items(capsys, filled, *argv, "--format", "json")
    assert code == 0
    [c] = json.loads(out)
    store = Store(filled.path)
    a = {r["id"]: r for r in store.scores(c["run_a"])}
    b = {r["id"]: r for r in store.scores(c["run_b"])}
    flipped = [i for i in a if a[i].get("prompt_strict") != b[i].get("prompt_strict")]
    assert flipped and [x["id"] for x in c["changed_items"]] == flipped
    assert len(flipped) == c["details"]["a_only"] + c["details"]["b_only"]
    for x in c["changed_items"]:
        ra, rb = a[x["id"]], b[x["id"]]
        assert (x["a"]["response"], x["b"]["response"]) == (ra["response"], rb["response"])
        assert x["b"]["response"].startswith(HOSTILE)
        assert x["direction"] == ("better" if rb["prompt_strict"] else "worse")
        ids = ra["instruction_id_list"]
        assert x["categories"] == list(dict.fromkeys(i.split(":")[0] for i in ids))
        assert (
            x["a"]["verdicts"].split(", ")[0] == f"{ids[0]} {'pass' if ra['strict'][0] else 'fail'}"
        )
    out_dir = tmp_path / "items"
    code, out, err = _items(capsys, filled, *argv, "--items-out", str(out_dir))
    assert code == 0 and f"ifeval: {len(flipped)} item" in out
    assert err.count("wrote ") == 2
    rows = list(csv.DictReader((out_dir / "items.csv").open(newline="")))
    assert [r["item"] for r in rows] == flipped and rows[0]["response_b"].startswith(HOSTILE)
    page = (out_dir / "items.html").read_text()
    assert "<script" not in page and "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page


def test_items_filters_by_direction_and_category(filled, capsys):
    argv = ["smollm2-135m-instruct", "ecd-r1", "--suite", "mt_bench", "--format", "json"]
    code, out, _ = _items(capsys, filled, *argv)
    every = json.loads(out)[0]["changed_items"]
    assert code == 0 and {x["direction"] for x in every} == {"better", "worse"}
    for x in every:  # the judge's per-turn scores, and the item's mean
        assert x["a"]["verdicts"].startswith("turn 1: ") and x["a"]["score"] != x["b"]["score"]
        assert (x["b"]["score"] > x["a"]["score"]) == (x["direction"] == "better")
    for direction in ("better", "worse"):
        code, out, _ = _items(capsys, filled, *argv, "--direction", direction)
        got = json.loads(out)[0]["changed_items"]
        assert got == [x for x in every if x["direction"] == direction]
    code, out, _ = _items(capsys, filled, *argv, "--category", "writing")
    assert json.loads(out)[0]["changed_items"] == every  # every synthetic question is writing
    code, _, err = _items(capsys, filled, *argv, "--category", "Writing")
    assert code == 2 and "categories: writing" in err and err.count("\n") == 1


def test_items_options_need_items(filled, capsys, tmp_path):
    argv = ["compare", "ecd-r1", "ecd-r2", "--direction", "worse", "--store", str(filled.path)]
    assert cli.main(argv) == 2
    assert "add --items" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    argv = ["compare", "ecd-r1", "ecd-r2", "--items", "--items-out", str(tmp_path / "file")]
    assert cli.main([*argv, "--store", str(filled.path)]) == 2
    assert "is a file" in capsys.readouterr().err


@needs_chromium
def test_items_page_in_headless_chromium(filled, capsys, tmp_path):
    """The page shows each changed item with both sides, runs nothing from the responses, and
    reads well: a screenshot is kept beside it."""
    from matplotlib import image
    from selenium.webdriver.common.by import By

    out_dir = tmp_path / "items"
    argv = ["smollm2-135m-instruct", "ecd-r3", "--allow-incomparable", "--items-out", str(out_dir)]
    assert _items(capsys, filled, *argv)[0] == 0
    with chromium(tmp_path / "profile", 1200, 1000) as driver:
        driver.get((out_dir / "items.html").as_uri())
        assert driver.title == "Items that changed"
        assert driver.execute_script("return typeof window.__pwned") == "undefined"
        assert driver.find_elements(By.TAG_NAME, "script") == []
        assert driver.find_elements(By.TAG_NAME, "img") == []  # the hostile <img> is text
        items = driver.find_elements(By.CSS_SELECTOR, "div.item")
        rows = (out_dir / "items.csv").read_text().count("\nifeval,")
        assert len(items) == rows >= 1  # the flipped prompts (ecd-r3 has IFEval runs only)
        assert all(len(i.find_elements(By.CSS_SELECTOR, "pre")) == 3 for i in items)
        shot = out_dir / "screenshot.png"
        assert driver.save_screenshot(str(shot))
        assert image.imread(shot).shape[1] == 1200
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
