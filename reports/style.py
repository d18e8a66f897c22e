"""One figure style for every plot: Okabe-Ito colours (colour-blind safe), a marker per group as a
second cue, 8 pt type, and widths for a two-column paper (3.3 in single, 6.9 in double column)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SINGLE = 3.3
DOUBLE = 6.9
DPI = 200
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
GROUP_STYLE = {  # group -> (colour, marker, legend label: sizes are added by `group_label`)
    "ecd": (OKABE_ITO["vermillion"], "o", "ECD (ours)"),
    "baseline": (OKABE_ITO["blue"], "s", "baselines"),
    "reference": (OKABE_ITO["green"], "^", "references"),
    "embedded": (OKABE_ITO["orange"], "D", "embedded"),
    "user": (OKABE_ITO["purple"], "v", "other"),
}
CYCLE = [OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "sky", "purple", "black")]
RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "errorbar.capsize": 2,
    "axes.prop_cycle": mpl.cycler(color=CYCLE),
    "pdf.fonttype": 42,  # TrueType in PDFs, as publishers ask
    "svg.fonttype": "none",
}


def group_style(group: str) -> tuple[str, str, str]:
    return GROUP_STYLE.get(group, GROUP_STYLE["user"])


def size_text(params_b: float) -> str:
    """A parameter count as a reader says it: 135M, 7B, 69B (the registry's exact count,
    rounded; never a nominal size the model does not have)."""
    return f"{params_b * 1000:.0f}M" if params_b < 1 else f"{params_b:.0f}B"


def group_label(group: str, sizes: list[float | None], published: bool = False) -> str:
    """A group's legend text, with the sizes of the models actually in it: "references (69B,
    published)", "baselines (135M–7B)"; no size is claimed for a group whose sizes are unknown."""
    label = group_style(group)[2]
    known = sorted({s for s in sizes if s})
    extra = []
    if known:
        span = size_text(known[0])
        if size_text(known[-1]) != span:
            span += "–" + size_text(known[-1])
        extra.append(span)
    if published:
        extra.append("published")
    if label.endswith(")"):  # "ECD (ours)" -> "ECD (ours, 135M)"
        label, extra = (
            label[: label.rindex("(")].rstrip(),
            [label[label.rindex("(") + 1 : -1], *extra],
        )
    return f"{label} ({', '.join(extra)})" if extra else label


def group_heading(group: str) -> str:
    """A group's heading in a table (capitalised legend text)."""
    label = group_style(group)[2]
    return label[0].upper() + label[1:]


@contextmanager
def paper_style():
    with mpl.rc_context(RC):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A Figure outside pyplot's global state (no GUI backend, safe in servers and tests), on an
    Agg canvas so that text can be measured (label placement) before it is saved. Constrained
    layout keeps every label, title and legend inside the canvas."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, folder: Path, name: str) -> list[Path]:
    """PDF (vector, for the paper) and PNG (for the HTML page), without timestamps in the PDF."""
    folder.mkdir(parents=True, exist_ok=True)
    pdf, png = folder / f"{name}.pdf", folder / f"{name}.png"
    fig.savefig(pdf, metadata={"CreationDate": None, "ModDate": None})
    fig.savefig(png, dpi=DPI)
    return [pdf, png]
