"""`python -m harness`. Guarded: vLLM starts its engine in spawned processes, which import this
module again as `__mp_main__`."""

from harness.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
