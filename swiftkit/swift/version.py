"""The installed ms-swift version and the flag spellings that go with it.

Read from package metadata only: importing ``swift`` costs seconds and pulls in torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata

from swiftkit.errors import SwiftkitError

SUPPORTED_MAJORS = (3, 4)


@dataclass(frozen=True)
class SwiftFlavor:
    """How one major version of ms-swift spells the flags swiftkit renders."""

    version: str
    major: int
    tuner_flag: str  # --train_type (3.x) / --tuner_type (4.x)
    infer_backend: str  # "pt" (3.x) / "transformers" (4.x)


def parse_version(text: str) -> tuple[int, int]:
    match = re.match(r"^(\d+)\.(\d+)", text)
    if not match:
        raise SwiftkitError(f"cannot read the ms-swift version {text!r}; reinstall it with 'make install'.")
    return int(match.group(1)), int(match.group(2))


def flavor_for(version: str) -> SwiftFlavor:
    """The flag spellings for an ms-swift version string; refuse versions swiftkit does not know."""
    major, _minor = parse_version(version)
    if major not in SUPPORTED_MAJORS:
        raise SwiftkitError(
            f"ms-swift {version} is not supported (swiftkit supports 3.x and 4.x); "
            "install a supported release, e.g. 'pip install \"ms-swift>=4,<5\"'."
        )
    if major == 3:
        return SwiftFlavor(version=version, major=3, tuner_flag="--train_type", infer_backend="pt")
    return SwiftFlavor(version=version, major=4, tuner_flag="--tuner_type", infer_backend="transformers")


def installed_version() -> str:
    try:
        return metadata.version("ms-swift")
    except metadata.PackageNotFoundError:
        raise SwiftkitError(
            "ms-swift is not installed; run 'make install' (or 'pip install \"swiftkit[train]\"')."
        ) from None


def installed_flavor() -> SwiftFlavor:
    return flavor_for(installed_version())
