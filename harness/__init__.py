"""ECD harness: evaluate chat models on IFEval, MT-Bench and AlpacaEval with a resumable store.

`harness.evaluate(model, suites, EvalOptions(...))` is the library entry point (harness.api), with
`harness.score` for responses made elsewhere and `harness.prepare` for what a run would be; all
are loaded on first use, so `import harness` stays cheap.
"""

__version__ = "0.1.0"
__all__ = ["EvalOptions", "evaluate", "prepare", "score"]


def __getattr__(name: str):
    if name in __all__:
        from harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
