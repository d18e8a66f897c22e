"""The report's figures, each returned as a matplotlib Figure (saved by `style.save`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from leaderboards.board import Entry, suite_of
from reports.style import DOUBLE, SINGLE, group_style, new_figure


def _yerr(values, lows, highs) -> np.ndarray:
    v, lo, hi = (np.asarray(x, float) for x in (values, lows, highs))
    return np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])


def _axis_label(suite: str) -> str:
    headline = suite_of(suite).headline
    return f"{headline.label} ({headline.unit})"


def scaling_figure(entries: list[Entry], suites: list[str]) -> Figure:
    """Score vs parameter count, one panel per suite: do 7B ECD models reach the 70B references?"""
    fig = new_figure(DOUBLE if len(suites) > 1 else SINGLE, 2.4)
    axes = fig.subplots(1, len(suites), squeeze=False)[0]
    groups_seen: dict[tuple[str, bool], None] = {}
    sizes = [e.params_b for e in entries if e.params_b] or [1.0]
    xlim = (min(sizes) / 1.6, max(sizes) * 1.6)
    ticks = [t for t in (0.1, 0.3, 1, 3, 7, 30, 70, 200, 400) if xlim[0] <= t <= xlim[1]]
    for ax, suite in zip(axes, suites):
        for published in (False, True):
            by_group: dict[str, list[Entry]] = defaultdict(list)
            for e in entries:
                if (
                    e.suite == suite
                    and e.published == published
                    and e.params_b
                    and e.value is not None
                ):
                    by_group[e.group].append(e)
            for group, es in by_group.items():
                colour, marker, label = group_style(group)
                x = [e.params_b for e in es]
                y = [e.value for e in es]
                lows = [e.low if e.low is not None else e.value for e in es]
                highs = [e.high if e.high is not None else e.value for e in es]
                ax.errorbar(
                    x,
                    y,
                    yerr=_yerr(y, lows, highs),
                    fmt=marker,
                    color=colour,
                    mfc="none" if published else colour,
                    label=f"{label}{' (published)' if published else ''}",
                )
                groups_seen[(group, published)] = None
        ax.set_xscale("log")
        ax.set_xlim(*xlim)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("parameters (billions, log scale)")
        ax.set_ylabel(_axis_label(suite))
        ax.set_title(suite_of(suite).headline.label)
    handles = []
    for group, published in groups_seen:
        colour, marker, label = group_style(group)
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                marker=marker,
                ls="none",
                mfc="none" if published else colour,
                label=f"{label}{' (published)' if published else ''}",
            )
        )
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)))
    return fig


def category_figure(categories: dict[str, dict[str, tuple[float, int]]]) -> Figure:
    """IFEval instruction-level strict accuracy per instruction category, one bar per model."""
    models = list(categories)
    cats = sorted({c for per in categories.values() for c in per})
    fig = new_figure(SINGLE, 1.1 + 0.12 * len(cats) * max(1, len(models)) ** 0.5)
    ax = fig.subplots()
    height = 0.8 / max(1, len(models))
    y = np.arange(len(cats))
    for i, model in enumerate(models):
        values = [100 * categories[model].get(c, (np.nan, 0))[0] for c in cats]
        ax.barh(y + (i - (len(models) - 1) / 2) * height, values, height=height, label=model)
    ax.set_yticks(y, [c.replace("_", " ") for c in cats])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("instruction-level strict accuracy (%)")
    ax.set_ylabel("instruction category")
    fig.legend(loc="outside lower center", ncols=2)
    return fig


@dataclass
class Delta:
    model: str
    suite: str
    delta: float
    low: float
    high: float
    significant: bool


def ablation_figure(deltas: list[Delta], base: str) -> Figure:
    """Each ECD variant minus the base model, per suite, with paired-bootstrap CIs."""
    suites = list(dict.fromkeys(d.suite for d in deltas))
    models = list(dict.fromkeys(d.model for d in deltas))
    fig = new_figure(SINGLE if len(suites) == 1 else DOUBLE, 0.9 + 0.25 * len(models))
    axes = fig.subplots(1, len(suites), squeeze=False, sharey=True)[0]
    colour, marker, _ = group_style("ecd")
    for ax, suite in zip(axes, suites):
        ds = [d for d in deltas if d.suite == suite]
        y = [models.index(d.model) for d in ds]
        x = [d.delta for d in ds]
        ax.errorbar(
            x,
            y,
            xerr=_yerr(x, [d.low for d in ds], [d.high for d in ds]),
            fmt=marker,
            color=colour,
            ls="none",
        )
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel(f"Δ {_axis_label(suite)} vs {base}")
        ax.set_title(suite_of(suite).headline.label)
    axes[0].set_yticks(range(len(models)), models)
    axes[0].set_ylim(len(models) - 0.5, -0.5)
    axes[0].set_ylabel("ECD variant")
    return fig


def rounds_figure(points: dict[str, list[tuple[float, float, float, float]]]) -> Figure:
    """Score vs number of evolution rounds, one panel per suite: (rounds, value, low, high)."""
    suites = list(points)
    fig = new_figure(SINGLE if len(suites) == 1 else DOUBLE, 2.3)
    axes = fig.subplots(1, len(suites), squeeze=False)[0]
    colour, marker, _ = group_style("ecd")
    for ax, suite in zip(axes, suites):
        pts = sorted(points[suite])
        x = [p[0] for p in pts]
        y = [p[1] for p in pts]
        ax.errorbar(
            x,
            y,
            yerr=_yerr(y, [p[2] for p in pts], [p[3] for p in pts]),
            fmt=f"-{marker}",
            color=colour,
        )
        ax.set_xticks(sorted(set(x)))
        ax.set_xlabel("evolution rounds")
        ax.set_ylabel(_axis_label(suite))
        ax.set_title(suite_of(suite).headline.label)
    return fig
