"""The pre-flight for remote code: does a local model (or adapter) folder carry Python that ms-swift would import?

ms-swift 4.x loads with ``trust_remote_code=True`` on several paths of its own; swiftkit's import guard (see
``swiftkit/inside_swift/guard``) refuses that code inside every ms-swift process. Before that, while the profile keeps
``model.trust_remote_code: false``, a folder carrying code is refused up front, naming the files: a clear message
instead of a model that loads with other classes than its author meant.
"""

from __future__ import annotations

import json
from pathlib import Path

from swiftkit.config.schema import Profile
from swiftkit.errors import SwiftkitError
from swiftkit.model.locate import is_local_path

# JSON files whose auto_map points transformers at Python files in the folder
AUTO_MAP_FILES = ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json")
_PACKAGE = Path(__file__).resolve().parents[1]
# swiftkit's own ms-swift plugins a checkpoint's args.json may name: the one older checkpoints name, and the one
# `swift sft` gets for lora.cast_input_dtype: false (it takes itself out of the run's args.json when the Trainer
# starts; a run cut short before that leaves it in)
OWN_PLUGINS = (
    ("plugins", "no_remote_code.py"),
    ("inside_swift", "lora_inputs.py"),
)


def shipped_code(folder: Path) -> list[str]:
    """What ``folder`` carries that could be imported: auto_map entries, ``*.py`` files (one level of sub-folders
    too, e.g. ``custom_generate/generate.py``) and ms-swift ``external_plugins`` named in its args.json."""
    found = []
    for name in AUTO_MAP_FILES:
        data = _json(folder / name)
        if isinstance(data, dict) and data.get("auto_map"):
            found.append(f"{name} auto_map")
    args = _json(folder / "args.json")
    plugins = args.get("external_plugins") if isinstance(args, dict) else None
    if isinstance(plugins, list) and any(not _own_plugin(str(p)) for p in plugins):
        found.append("args.json external_plugins")
    try:
        files = sorted(folder.glob("*.py")) + sorted(folder.glob("*/*.py"))
    except OSError:
        files = []
    found += [str(f.relative_to(folder)) for f in files]
    return found


def _own_plugin(path: str) -> bool:
    return any(
        Path(path).resolve() == _PACKAGE.joinpath(*parts) or path.endswith("/".join(("swiftkit", *parts)))
        for parts in OWN_PLUGINS
    )


def _json(path: Path) -> object:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def model_code(model: str) -> list[str]:
    """The code files of a local model folder ([] for a hub model); ``model``: the resolved ``--model``."""
    return shipped_code(Path(model).expanduser()) if is_local_path(model) else []


def refuse_shipped_code(profile: Profile, model: str, *folders: Path) -> None:
    """Raise when the model folder (``model``: the resolved ``--model``), or an adapter folder in ``folders``,
    carries code and the profile does not trust remote code."""
    if profile.model.trust_remote_code:
        return
    targets = ([Path(model).expanduser()] if is_local_path(model) else []) + [Path(f) for f in folders]
    for folder in targets:
        found = shipped_code(folder)
        if found:
            raise SwiftkitError(
                f"{folder} ships code that ms-swift would import ({', '.join(found)}); swiftkit refuses it while "
                "model.trust_remote_code is false. Set it to true (--set model.trust_remote_code=true) only if you "
                "trust that code, or use a folder without it."
            )
