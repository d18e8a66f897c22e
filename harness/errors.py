"""One exception type for problems the user can fix; the CLIs print it as one line."""

import argparse
import sys
from collections.abc import Callable


class HarnessError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it."""


class StoreError(HarnessError):
    """The store failed under a command that had begun (disk full, its write lock held past the
    busy timeout, the database server gone): a failure (exit 1), not bad input."""


def run_cli(command: Callable[[], int], interrupted: str = "interrupted") -> int:
    """Run a CLI command: a HarnessError becomes one `error:` line and exit 2 (a StoreError exit
    1), Ctrl-C exit 130."""
    from harness.redact import redact

    try:
        return command()
    except StoreError as e:
        print(f"error: {redact(str(e))}", file=sys.stderr)
        return 1
    except HarnessError as e:
        print(f"error: {redact(str(e))}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as e:  # a file the harness reads as text holds other bytes
        print(
            f"error: an input file is not UTF-8 text ({e.reason} at byte {e.start})",
            file=sys.stderr,
        )
        return 2
    except OSError as e:  # a path that is a folder, unwritable, gone: say which
        where = f" {e.filename}" if e.filename else ""
        print(f"error: cannot use{where}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (`error: ...`) and exit 2, like HarnessError;
    `--help` still prints the full usage. Subcommand parsers inherit the class."""

    def error(self, message: str):
        print(f"error: {self.prog}: {message}; see --help", file=sys.stderr)
        raise SystemExit(2)
