"""One exception type for problems the user can fix; the CLIs print it as one line."""

import sys
from collections.abc import Callable


class HarnessError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it."""


def run_cli(command: Callable[[], int], interrupted: str = "interrupted") -> int:
    """Run a CLI command: a HarnessError becomes one `error:` line and exit 2, Ctrl-C exit 130."""
    try:
        return command()
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
