"""One figure style for every plot: Okabe-Ito colours (colour-blind safe), a marker per group as a
second cue, 8 pt type, and widths for a two-column paper (3.3 in single, 6.9 in double column)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
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
GROUP_STYLE = {  # group -> (colour, marker, legend label)
    "ecd": (OKABE_ITO["vermillion"], "o", "ECD (ours)"),
    "baseline": (OKABE_ITO["blue"], "s", "7B baselines"),
    "reference": (OKABE_ITO["green"], "^", "70B references"),
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


@contextmanager
def paper_style():
    with mpl.rc_context(RC):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A Figure outside pyplot's global state (no GUI backend, safe in servers and tests)."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save(fig: Figure, folder: Path, name: str) -> list[Path]:
    """PDF (vector, for the paper) and PNG (for the HTML page), without timestamps in the PDF."""
    folder.mkdir(parents=True, exist_ok=True)
    pdf, png = folder / f"{name}.pdf", folder / f"{name}.png"
    fig.savefig(pdf, metadata={"CreationDate": None, "ModDate": None})
    fig.savefig(png, dpi=DPI)
    return [pdf, png]
