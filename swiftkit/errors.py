"""The one error type for expected failures.

Core modules raise :class:`SwiftkitError` with a message that names the next step;
the CLI prints ``Error: <message>`` and exits 1.
"""

from __future__ import annotations


class SwiftkitError(Exception):
    """An expected failure the user can fix (bad input, missing file, unsupported version)."""
