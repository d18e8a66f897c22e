"""ECD harness: evaluate chat models on IFEval, MT-Bench and AlpacaEval with a resumable store."""

__version__ = "0.1.0"
