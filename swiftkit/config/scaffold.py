"""`swiftkit init`: a user's own project folder — a profile that extends a built-in and holds the identity, an
editable identity template (English and Chinese), and a .gitignore for outputs. Nothing is overwritten."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from swiftkit import resources
from swiftkit.config.profiles import builtin_names, find, load
from swiftkit.config.schema import IdentitySection
from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import atomic_write_text

DEFAULT_PROFILE = "swiftkit.yaml"  # the profile used when --profile and SWIFTKIT_PROFILE are absent
TEMPLATE = "identity/identity.template.json"


@dataclass
class Scaffold:
    folder: Path
    written: list[Path]
    base: str


def _datasets(base: str) -> list[dict[str, Any]]:
    """The base profile's datasets, with the shipped identity template replaced by the project's own copy and
    other shipped files named as ``builtin:`` (so the project keeps working after an upgrade)."""
    shipped = {str(resources.path(TEMPLATE)): None}
    out: list[dict[str, Any]] = []
    for entry in load(base).profile.data.datasets:
        item = entry.model_dump(exclude_none=True)
        for key in ("path", "replay"):
            value = item.get(key)
            if value is None:
                continue
            if value in shipped:
                item[key] = "identity.template.json"
            elif value.startswith(str(resources.root())):
                item[key] = resources.BUILTIN_PREFIX + str(Path(value).relative_to(resources.root()))
        out.append(item)
    return out


def profile_text(base: str, identity: IdentitySection) -> str:
    who = {k: v for k, v in identity.model_dump().items() if v is not None}
    body = yaml.safe_dump(
        {"extends": base, "identity": who, "data": {"datasets": _datasets(base)}, "output_dir": "output"},
        sort_keys=False,
        allow_unicode=True,
    )
    return (
        "# Your identity fine-tuning project, made by 'swiftkit init'. From this folder:\n"
        "#   swiftkit validate            check the data (the template is filled from identity: below)\n"
        "#   swiftkit train               train; then: swiftkit infer --prompt 'Who are you?', swiftkit export\n"
        f"# Everything else comes from the built-in profile '{base}' ('swiftkit profiles show {base}');\n"
        "# override any of its keys here, e.g.  train: {num_train_epochs: 5}\n" + body
    )


GITIGNORE = "# swiftkit: training runs, merged models and logs\noutput/\n"


def scaffold(
    folder: Path,
    *,
    name: str,
    author: str,
    name_zh: Optional[str] = None,
    author_zh: Optional[str] = None,
    base: str = "cpu-demo",
) -> Scaffold:
    """Write the project files into ``folder`` (created if missing); refuse before writing anything if one exists."""
    if base not in builtin_names():
        find(base)  # raises with "did you mean"
    who = IdentitySection(name=name, author=author, name_zh=name_zh, author_zh=author_zh)
    folder = Path(folder)
    targets = {
        folder / DEFAULT_PROFILE: profile_text(base, who),
        folder / "identity.template.json": None,  # copied from the shipped template
        folder / ".gitignore": GITIGNORE,
    }
    existing = [p for p in targets if p.exists()]
    if existing:
        raise SwiftkitError(
            f"{', '.join(map(str, existing))} already exist(s); 'swiftkit init' never overwrites. "
            "Choose an empty folder: swiftkit init DIR --name ... --author ..."
        )
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path, text in targets.items():
        if text is None:
            tmp = path.with_name(f".{path.name}.tmp")
            shutil.copyfile(resources.path(TEMPLATE), tmp)
            tmp.replace(path)
        else:
            atomic_write_text(path, text, force=False)
        written.append(path)
    load(str(folder / DEFAULT_PROFILE))  # the project must load as written
    return Scaffold(folder, written, base)
