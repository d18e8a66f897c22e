"""The report's figures, each returned as a matplotlib Figure (saved by `style.save`).

Paper rules they follow: every label inside the canvas (constrained layout), every point named
(a label beside it, placed where it overlaps no other label or marker), nothing hidden (ECD on
top, published numbers hollow and underneath, models of one size spread slightly sideways),
legend texts true of the models plotted (`style.group_label`), and a 0 % bar visible."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter
from matplotlib.transforms import Bbox

from leaderboards.board import GROUP_ORDER, Entry, suite_of
from reports.style import DOUBLE, SINGLE, group_label, group_style, new_figure

POINT_LABEL_SIZE = 5.5  # pt: model names beside points
FAR_PENALTY = 12.0  # px²: a label further away must be clearly better than a near one
JITTER = 0.09  # decades between models of the same size on a log axis (about a marker)
MIN_DECADES = 1.5  # the narrowest size axis (one model size alone would fill the panel)
TICKS = (0.01, 0.03, 0.1, 0.3, 1, 3, 7, 30, 70, 200, 400)
# where a point's name may go, in points from the marker (the first free one wins)
_OFFSETS = [
    (4, 0, "left", "center"),
    (-4, 0, "right", "center"),
    (0, 4, "center", "bottom"),
    (0, -4, "center", "top"),
    (4, 4, "left", "bottom"),
    (4, -4, "left", "top"),
    (-4, 4, "right", "bottom"),
    (-4, -4, "right", "top"),
]
_OFFSETS += [(2.5 * dx, 2.5 * dy, ha, va) for dx, dy, ha, va in _OFFSETS]


def literal(name: str) -> str:
    """A name as matplotlib draws it letter for letter: `$` escaped, so that `a$b$c` is not
    mathtext (set in italics, or a traceback where the "formula" does not parse)."""
    return name.replace("$", r"\$")


def _yerr(values, lows, highs) -> np.ndarray:
    v, lo, hi = (np.asarray(x, float) for x in (values, lows, highs))
    return np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])


def _axis_label(suite: str) -> str:
    headline = suite_of(suite).headline
    return f"{headline.label} ({headline.unit})"


def _delta_label(suite: str) -> str:
    unit = suite_of(suite).headline.unit
    return "Δ (percentage points)" if unit == "%" else f"Δ ({unit})"


def _overlap(a: Bbox, b: Bbox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0) * max(h, 0)


def label_points(
    fig: Figure,
    ax: Axes,
    points: list[tuple[float, float, str]],
    same: list | None = None,
    bars: list[tuple[float, float | None, float | None]] = (),
) -> None:
    """Name each (x, y) point. Points with the same `same` key (default: the same place), such
    as models of one size and score spread sideways, share one label ("a, b") at their middle.
    Each label takes the first offset where it overlaps no label placed so far, no marker and no
    axes edge, nor a vertical error bar in `bars` ((x, low, high)), else the least bad one.
    Call after everything else is drawn on the figure."""
    fig.draw_without_rendering()  # the final layout, so that boxes are where they will be
    renderer = fig.canvas.get_renderer()
    same = same or [(round(x, 9), round(y, 9)) for x, y, _ in points]
    merged: dict[object, list[tuple[float, float, str]]] = {}
    for point, key in zip(points, same):
        merged.setdefault(key, []).append(point)
    radius = fig.dpi / 72 * 3  # a marker, in pixels
    taken, thin = [], []  # markers and labels; error bars (crossing one costs less)
    for x, y, _ in points:
        px, py = ax.transData.transform((x, y))
        taken.append(Bbox.from_bounds(px - radius, py - radius, 2 * radius, 2 * radius))
    for x, low, high in bars:
        if low is not None and high is not None and high > low:
            (px, p0), (_, p1) = ax.transData.transform([(x, low), (x, high)])
            thin.append(Bbox.from_extents(px - 1.5, p0, px + 1.5, p1))
    frame = ax.bbox
    anchors = []
    for group in merged.values():
        xs = [x for x, _, _ in group]
        log = ax.get_xscale() == "log"
        centre = float(np.exp(np.mean(np.log(xs))) if log else np.mean(xs))
        names = literal(", ".join(dict.fromkeys(name for _, _, name in group)))
        anchors.append(((centre, float(np.mean([y for _, y, _ in group]))), names))
    for xy, names in sorted(anchors, key=lambda a: (-a[0][1], a[0][0])):
        best = None
        for k, (dx, dy, ha, va) in enumerate(_OFFSETS):
            text = ax.annotate(
                names,
                xy,
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=POINT_LABEL_SIZE,
                color="0.15",
                zorder=6,
                annotation_clip=False,
            )
            box = text.get_window_extent(renderer)
            outside = box.width * box.height - _overlap(box, frame)
            cost = (
                sum(_overlap(box, t) for t in taken)
                + 0.2 * sum(_overlap(box, t) for t in thin)
                + 4 * outside
                + (FAR_PENALTY if k >= len(_OFFSETS) // 2 else 0)  # far from its point
            )
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, text, box)
            else:
                text.remove()
            if cost == 0:
                break
        taken.append(best[2])


def _spread(xs: dict[str, float]) -> dict[str, float]:
    """Models of the same size moved apart by `JITTER` decades, centred on the true size."""
    by_size: dict[float, list[str]] = defaultdict(list)
    for model, x in xs.items():
        by_size[x].append(model)
    out = {}
    for x, models in by_size.items():
        for i, model in enumerate(models):
            out[model] = x * 10 ** (JITTER * (i - (len(models) - 1) / 2))
    return out


def _rank(group: str, published: bool) -> tuple[bool, int]:
    """Measured before published, then the leaderboard's group order."""
    return (published, GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER))


def _group_rank(e: Entry) -> tuple:
    return (*_rank(e.group, e.published), e.model)


def scaling_figure(entries: list[Entry], suites: list[str]) -> Figure:
    """Score vs parameter count, one panel per suite: do 7B ECD models reach the 70B references?
    Measured points are filled and drawn over published (hollow) ones, ECD on top; models of the
    same size are spread slightly sideways, and every point is named."""
    fig = new_figure(DOUBLE if len(suites) > 1 else SINGLE, 2.6)
    axes = fig.subplots(1, len(suites), squeeze=False)[0]
    plotted = [e for e in entries if e.suite in suites and e.params_b and e.value is not None]
    sizes = [e.params_b for e in plotted] or [1.0]
    xlim = (min(sizes) / 1.8, max(sizes) * 1.8)
    # at least MIN_DECADES wide: models of one size spread by JITTER must not read as other sizes
    short = max(0.0, MIN_DECADES - math.log10(xlim[1] / xlim[0])) / 2
    xlim = (xlim[0] / 10**short, xlim[1] * 10**short)
    ticks = [t for t in TICKS if xlim[0] <= t <= xlim[1]]
    groups_seen: dict[tuple[str, bool], list[float]] = {}
    for e in sorted(plotted, key=_group_rank):
        groups_seen.setdefault((e.group, e.published), [])
        if e.params_b not in groups_seen[(e.group, e.published)]:
            groups_seen[(e.group, e.published)].append(e.params_b)
    for ax, suite in zip(axes, suites):
        here = sorted([e for e in plotted if e.suite == suite], key=_group_rank)
        xs = _spread({f"{e.model}\0{e.kind}": e.params_b for e in here})
        by_group: dict[tuple[str, bool], list[Entry]] = defaultdict(list)
        for e in here:
            by_group[(e.group, e.published)].append(e)
        for (group, published), es in by_group.items():
            colour, marker, _ = group_style(group)
            x = [xs[f"{e.model}\0{e.kind}"] for e in es]
            y = [e.value for e in es]
            lows = [e.low if e.low is not None else e.value for e in es]
            highs = [e.high if e.high is not None else e.value for e in es]
            ax.errorbar(
                x,
                y,
                yerr=_yerr(y, lows, highs),
                fmt=marker,
                color=colour,
                mfc="white" if published else colour,
                mew=1.0,
                elinewidth=0.8,
                zorder=2 if published else (5 if group == "ecd" else 4),
                label=group_label(group, groups_seen[(group, published)], published),
            )
        ax.set_xscale("log")
        ax.set_xlim(*xlim)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.margins(y=0.18)
        ax.set_xlabel("parameters (billions, log scale)")
        ax.set_ylabel(_axis_label(suite))
        ax.set_title(suite_of(suite).headline.label)
    handles = []
    for (group, published), group_sizes in sorted(
        groups_seen.items(), key=lambda kv: _rank(*kv[0])
    ):
        colour, marker, _ = group_style(group)
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                marker=marker,
                ls="none",
                mfc="white" if published else colour,
                label=group_label(group, group_sizes, published),
            )
        )
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)))
    for ax, suite in zip(axes, suites):
        here = sorted([e for e in plotted if e.suite == suite], key=_group_rank)
        xs = _spread({f"{e.model}\0{e.kind}": e.params_b for e in here})
        label_points(
            fig,
            ax,
            [(xs[f"{e.model}\0{e.kind}"], e.value, e.model) for e in here],
            same=[(e.params_b, e.value, e.low, e.high, e.published, e.group) for e in here],
            bars=[(xs[f"{e.model}\0{e.kind}"], e.low, e.high) for e in here],
        )
    return fig


def category_figure(categories: dict[str, dict[str, tuple[float, int]]]) -> Figure:
    """IFEval instruction-level strict accuracy per instruction category, one bar per model; a
    0 % bar is marked with a "0" so that it is not read as missing (a missing one says "n/a")."""
    models = list(categories)
    cats = sorted({c for per in categories.values() for c in per})
    fig = new_figure(SINGLE, 1.1 + 0.12 * len(cats) * max(1, len(models)) ** 0.5)
    ax = fig.subplots()
    height = 0.8 / max(1, len(models))
    y = np.arange(len(cats))
    for i, model in enumerate(models):
        values = [100 * categories[model].get(c, (np.nan, 0))[0] for c in cats]
        pos = y + (i - (len(models) - 1) / 2) * height
        bars = ax.barh(pos, values, height=height, label=literal(model))
        colour = bars.patches[0].get_facecolor() if bars.patches else "black"
        for p, v in zip(pos, values):
            if np.isnan(v) or v == 0:
                ax.text(
                    1,
                    p,
                    "n/a" if np.isnan(v) else "0",
                    va="center",
                    ha="left",
                    fontsize=POINT_LABEL_SIZE - 0.5,
                    color="0.4" if np.isnan(v) else colour,
                )
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
    """Each ECD variant minus the base model, per suite, with paired-bootstrap CIs; filled
    markers are significant differences, hollow ones are not."""
    suites = list(dict.fromkeys(d.suite for d in deltas))
    models = list(dict.fromkeys(d.model for d in deltas))
    fig = new_figure(SINGLE if len(suites) == 1 else DOUBLE, 1.2 + 0.25 * len(models))
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
            mfc="white",
            ls="none",
            zorder=3,
        )
        sig = [(d.delta, yy) for d, yy in zip(ds, y) if d.significant]
        if sig:
            ax.plot(*zip(*sig), marker, color=colour, zorder=4)
        ax.axvline(0, color="black", lw=0.8, zorder=1)
        ax.set_xlabel(_delta_label(suite))
        ax.set_title(suite_of(suite).headline.label)
    axes[0].set_yticks(range(len(models)), [literal(m) for m in models])
    axes[0].set_ylim(len(models) - 0.5, -0.5)
    axes[0].set_ylabel("ECD variant")
    fig.supxlabel(literal(f"difference from {base}"), fontsize=8)
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
