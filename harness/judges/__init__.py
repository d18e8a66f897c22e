"""Judges: a backend plus a rubric (sampling settings and a reply parser), cached in the store."""

from harness.judges.base import Judge, ParseError, Rubric, Verdict, make_judge

__all__ = ["Judge", "ParseError", "Rubric", "Verdict", "make_judge"]
