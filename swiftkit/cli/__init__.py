"""The command line: Click commands that parse options, call one core function and print its result.

``app`` holds the group and shared options; each other module registers the commands of one concern.
"""

from swiftkit.cli import (  # noqa: F401  (they register commands)
    cancel,
    data,
    deploy,
    evaluate,
    infer,
    logs,
    profiles,
    runs,
    status,
    train,
)
from swiftkit.cli.app import cli, main

__all__ = ["cli", "main"]
