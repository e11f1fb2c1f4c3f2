"""The command line: Click commands that parse options, call one core function and print its result."""

from swiftkit.cli.commands import cli, main

__all__ = ["cli", "main"]
