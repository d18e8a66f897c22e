"""ECD harness: evaluate chat models on IFEval, MT-Bench and AlpacaEval with a resumable store.

`harness.evaluate(model, suites, EvalOptions(...))` is the library entry point (harness.api);
both are loaded on first use, so `import harness` stays cheap.
"""

__version__ = "0.1.0"
__all__ = ["EvalOptions", "evaluate"]


def __getattr__(name: str):
    if name in __all__:
        from harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
