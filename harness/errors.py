"""One exception type for problems the user can fix; the CLI prints it as one line."""


class HarnessError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it."""
