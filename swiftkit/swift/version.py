"""The installed ms-swift version and the flag spellings that go with it.

Read from package metadata only: importing ``swift`` costs seconds and pulls in torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from importlib import metadata

from swiftkit.errors import SwiftkitError
from swiftkit.installed import install_extra

SUPPORTED_MAJORS = (3, 4)
NEWEST_SUPPORTED = "4.6.0"  # what plan and dry-runs render for when ms-swift is not installed


@dataclass(frozen=True)
class SwiftFlavor:
    """How one major version of ms-swift spells the flags swiftkit renders."""

    version: str
    major: int
    tuner_flag: str  # --train_type (3.x) / --tuner_type (4.x)
    infer_backend: str  # "pt" (3.x) / "transformers" (4.x)
    plugin_flag: str | None = None  # --external_plugins (4.x): swiftkit's own plugins (the serve plugin)
    installed: bool = True  # False: ms-swift is not installed and this is the newest supported version, assumed


def parse_version(text: str) -> tuple[int, int]:
    match = re.match(r"^(\d+)\.(\d+)", text)
    if not match:
        raise SwiftkitError(f"cannot read the ms-swift version {text!r}; reinstall it with {install_extra()}.")
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
    return SwiftFlavor(
        version=version,
        major=4,
        tuner_flag="--tuner_type",
        infer_backend="transformers",
        plugin_flag="--external_plugins",
    )


def installed_version() -> str:
    try:
        return metadata.version("ms-swift")
    except metadata.PackageNotFoundError:
        raise SwiftkitError(f"ms-swift is not installed; install it with {install_extra()}.") from None


def installed_flavor() -> SwiftFlavor:
    return flavor_for(installed_version())


def planning_flavor() -> SwiftFlavor:
    """The installed ms-swift's spellings; without ms-swift, those of the newest version swiftkit supports (plan and
    dry-runs need no ms-swift: they only print)."""
    try:
        return installed_flavor()
    except SwiftkitError:
        if _present():
            raise  # installed but unsupported or unreadable: say so
        return replace(flavor_for(NEWEST_SUPPORTED), installed=False)


def _present() -> bool:
    try:
        metadata.version("ms-swift")
        return True
    except metadata.PackageNotFoundError:
        return False


def assumed_note(flavor: SwiftFlavor) -> str | None:
    """What plan says when it rendered for a version that is not installed."""
    if flavor.installed:
        return None
    return (
        f"ms-swift is not installed: rendered for ms-swift {flavor.version}, the newest swiftkit supports. "
        f"To run it, install it with {install_extra()}."
    )
