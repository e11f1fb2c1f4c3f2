"""The installed ms-swift's own flags, read once per version and cached, and the check of ``swift_args``.

Reading ms-swift's argument classes from source (:mod:`swiftkit.swift.argdefs`) takes about a second; the result
is kept as one JSON file in swiftkit's cache, named by the ms-swift and transformers versions, so ``plan`` and
``--dry-run`` read it in milliseconds and never import ms-swift.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from functools import cache
from pathlib import Path
from typing import Any, Optional

from swiftkit.cache import cache_dir
from swiftkit.errors import SwiftkitError
from swiftkit.installed import install_extra
from swiftkit.swift import argdefs

CACHE_PREFIX = "swift-flags"


def cache_file(site: Path) -> Path:
    v = argdefs.versions(site)
    name = f"{CACHE_PREFIX}-s{argdefs.SCHEMA}-ms_swift{v['ms-swift']}-transformers{v['transformers']}.json"
    return cache_dir() / name


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == argdefs.SCHEMA else None


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, default=str)
        os.replace(tmp, path)  # atomic: a concurrent swiftkit never reads half a file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@cache
def tables() -> dict[str, Any]:
    """Every command's flag table for the installed ms-swift: from the cache, else read from source and cached."""
    try:
        site = argdefs.find_site_packages()
    except RuntimeError:
        raise SwiftkitError(
            f"ms-swift is not installed, and swift_args are checked against it; install it with {install_extra()}."
        ) from None
    path = cache_file(site)
    data = _read(path)
    if data is None:
        data = {
            "schema": argdefs.SCHEMA,
            "versions": argdefs.versions(site),
            "commands": dict(argdefs.COMMANDS),
            **argdefs.compute(site, set(argdefs.COMMANDS.values())),
        }
        try:
            _write(path, data)
        except OSError:
            pass  # a read-only cache only costs the next run the second again
    return data


def flag_info(command: str) -> dict[str, dict[str, Any]]:
    """{flag name: {'kind', 'choices', 'default', 'options', ...}} of ``swift <command>``."""
    data = tables()
    return dict(data["classes"][data["commands"][command]])


def _value_problem(name: str, info: dict[str, Any], value: Any) -> str:
    kind = info.get("kind")
    if kind == "bool" and not isinstance(value, bool) and str(value).lower() not in ("true", "false"):
        return f"takes true or false, not {value!r}"
    if kind == "list" and isinstance(value, dict):
        return "takes a list of values, not a mapping"
    if kind != "list" and isinstance(value, list):
        return f"takes one value, not a list {value!r}"
    choices = info.get("choices")
    if kind == "choices" and choices and value not in choices and str(value) not in [str(c) for c in choices]:
        return f"must be one of {', '.join(str(c) for c in choices)}, not {value!r}"
    return ""


def check_swift_args(
    swift_args: dict[str, Any], owned: dict[str, str], command: str = "sft", problems: Optional[list[str]] = None
) -> None:
    """Refuse, all at once, flags ms-swift does not have, flags a profile field owns, values of the wrong kind, and
    the ``problems`` the caller found already."""
    if not swift_args:
        return
    known = flag_info(command)
    version = tables()["versions"]["ms-swift"]
    problems = list(problems or [])
    for name, value in sorted(swift_args.items()):
        where = f"swift_args.{name}"
        if name in owned:
            problems.append(f"{where}: set by the profile field {owned[name]}; set that instead")
        elif name not in known:
            close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problems.append(f"{where}: ms-swift {version} `swift {command}` has no flag --{name}{hint}")
        elif value is not None and (problem := _value_problem(name, known[name], value)):
            problems.append(f"{where}: --{name} {problem}")
    if problems:
        raise SwiftkitError(
            "the profile's swift_args do not fit the installed ms-swift:\n  "
            + "\n  ".join(sorted(problems))
            + "\nFix them in the profile (or with --set) and try again."
        )
