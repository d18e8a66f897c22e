"""What a finished run shows on the terminal, and the exit status its outcome maps to: the same
for `python -m harness run`, `score` and training's `--eval`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.runner import RunOutcome

EXIT_FAILED = 1  # nothing could be scored
EXIT_WITH_FAILURES = 3  # metrics stand, over fewer units than asked for


def exit_status(outcomes: Sequence[RunOutcome]) -> int:
    statuses = [o.status for o in outcomes]
    if "failed" in statuses:
        return EXIT_FAILED
    return EXIT_WITH_FAILURES if "finished_with_failures" in statuses else 0


def show(outcome: RunOutcome, quiet: bool = False, imported: bool = False) -> None:
    """The run's table; `quiet` drops it only when there is nothing to say (run finished)."""
    if not quiet or outcome.status != "finished":
        print_table(outcome, imported)


def print_table(outcome: RunOutcome, imported: bool = False) -> None:
    """The run's metrics, what they are over, its status, and its notes."""
    suite, result, run_id, status = outcome.suite, outcome.result, outcome.run_id, outcome.status
    over = f"{result.scored} of {result.total} {result.unit}" if result.total else "0 items"
    print(f"\n{suite.name} | {outcome.model} | {over}" + (f" | run {run_id}" if run_id else ""))
    if status != "finished":
        print(f"  status: {status}")
    if status == "failed":
        from harness.runner import first_error

        print(f"  error: nothing could be scored; the first failure: {first_error(result)}")
    for metric in suite.metrics:
        if metric.key in result.metrics:
            value = result.metrics[metric.key]
            shown = f"{metric.display(value):6.2f}" if isinstance(value, float) else str(value)
            shown = "     -" if value is None else shown
            print(f"  {metric.key:28} {shown}")
    for note in [result.failure_line(rerun=not imported), *result.notes]:
        if note:
            print(f"  note: {note}")
