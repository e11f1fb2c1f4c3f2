"""The one error type for expected failures.

Core modules raise :class:`SwiftkitError` with a message that names the next step;
the CLI prints ``Error: <message>`` and exits 1 (2 for a :class:`UsageError`).
"""

from __future__ import annotations


class SwiftkitError(Exception):
    """An expected failure the user can fix (bad input, missing file, unsupported version)."""


class UsageError(SwiftkitError):
    """The command line itself is wrong (e.g. a --set key that does not exist): the CLI exits 2, as for any other
    usage error."""
