"""Small helpers shared by tests (importable: conftest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from swiftkit.config.schema import Profile
from swiftkit.data.resolve import resolve_run
from swiftkit.sizing import fit
from swiftkit.swift.render import Command, render_sft
from swiftkit.swift.version import SwiftFlavor

RUN_NAME = "v0-20260101-000000"


def sft_command(profile: Profile, flavor: SwiftFlavor, run_dir: Optional[Path] = None) -> Command:
    """`swift sft` as `swiftkit train` renders it, in a fixed run folder."""
    fitted, _ = fit.apply(profile)  # 'auto' batch numbers fitted to the card, as `swiftkit train` does
    return render_sft(resolve_run(fitted, run_dir or Path(profile.output_dir) / RUN_NAME), flavor)
