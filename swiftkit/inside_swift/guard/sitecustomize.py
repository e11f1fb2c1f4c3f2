"""swiftkit's remote-code guard, put first on the PYTHONPATH of every ms-swift process swiftkit starts while the
profile keeps ``model.trust_remote_code: false`` (with ``SWIFTKIT_REMOTE_CODE=off``; any other value leaves it
inert). Python imports ``sitecustomize`` at start-up in every interpreter, torchrun ranks and workers included, so
the guarantee holds below ms-swift, whatever ms-swift passes as ``trust_remote_code``:

- ``transformers.dynamic_module_utils`` is patched right after its body runs (before any ``from … import`` binds
  its names): ``resolve_trust_remote_code`` answers False, so auto classes use their built-in class (auto_map and
  ``custom_generate/`` are ignored) and refuse when there is none; the functions that copy or import shipped code
  raise. Imports of ``transformers_modules.*`` (a stale modules cache) are refused.
- ms-swift ``external_plugins`` (which an adapter's or model's ``args.json`` can name) are refused unless listed
  in ``SWIFTKIT_ALLOWED_PLUGINS`` (os.pathsep-separated) or shipped with swiftkit.
- A model folder on ``sys.path`` (e.g. the current folder) never supplies a module.
- No module is imported from outside the interpreter's own installation, whatever put its folder on ``sys.path``
  (ms-swift's loaders append ``local_repo_path`` or the model folder; plugins insert their folder): a module's file
  must lie under a ``sys.path`` entry as it stood when this process started (standard library, site-packages,
  ``.pth`` entries, the user's ``PYTHONPATH``), swiftkit's own package, or a folder listed in
  ``SWIFTKIT_ALLOW_CODE_FROM`` (os.pathsep-separated; the profile's ``model.allow_code_from``).

A refusal is a RuntimeError (fallback handlers that catch ImportError/OSError do not swallow it) whose message names
the file and says how to allow it. The next ``sitecustomize`` on sys.path still runs. Standard library only.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import PathFinder, all_suffixes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any

_HERE = os.path.dirname(os.path.realpath(__file__))
_HINT = "set model.trust_remote_code: true in the profile to allow it"
# swiftkit's own plugin: checkpoints trained by earlier swiftkit versions name it in their args.json
_PLUGIN_DIR = os.path.realpath(os.path.join(_HERE, ".."))  # swiftkit/inside_swift: its own plugins (e.g. serve.py)
_LEGACY_DIR = os.path.realpath(os.path.join(_HERE, "..", "..", "plugins"))  # where older checkpoints name it
_SHIPPED_PLUGINS = {
    os.path.join(folder, name)
    for folder in (_PLUGIN_DIR, _LEGACY_DIR)
    for name in (os.listdir(folder) if os.path.isdir(folder) else ())
}
_SWIFTKIT = os.path.realpath(os.path.join(_HERE, "..", ".."))  # swiftkit's own package folder
_ALLOW_ENV = "SWIFTKIT_ALLOW_CODE_FROM"
_FOLDER_HINT = "list its folder in the profile's model.allow_code_from to allow it"
_WEIGHTS = ("tokenizer_config.json", "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


class RemoteCodeRefused(RuntimeError):
    pass


def _refuse(what: object, hint: str = _HINT) -> RemoteCodeRefused:
    return RemoteCodeRefused(f"swiftkit: refusing to import code shipped with the model ({what}); {hint}")


def _patch_transformers(m: ModuleType) -> None:
    def resolve_trust_remote_code(
        trust: Any, model_name: Any, has_local_code: bool = False, has_remote_code: bool = False, *a: Any, **k: Any
    ) -> bool:
        if has_remote_code and not has_local_code:
            raise _refuse(model_name)
        return False  # the built-in class is used; auto_map and custom_generate/ are ignored

    def get_class_from_dynamic_module(
        class_reference: str, pretrained_model_name_or_path: Any = None, *a: Any, **k: Any
    ) -> type:
        raise _refuse(f"{pretrained_model_name_or_path}: {class_reference}")

    def get_cached_module_file(pretrained_model_name_or_path: Any, module_file: str = "?", *a: Any, **k: Any) -> str:
        raise _refuse(os.path.join(str(pretrained_model_name_or_path), module_file))

    def get_class_in_module(class_name: str, module_path: Any = "?", *a: Any, **k: Any) -> type:
        raise _refuse(f"{module_path}: {class_name}")

    for fn in (resolve_trust_remote_code, get_class_from_dynamic_module, get_cached_module_file, get_class_in_module):
        setattr(m, fn.__name__, fn)


def _allowed_folders() -> list[str]:
    return [os.path.realpath(p) for p in os.environ.get(_ALLOW_ENV, "").split(os.pathsep) if os.path.isabs(p)]


def _startup_roots() -> tuple[str, ...]:
    """Where modules may come from: the sys.path entries of this interpreter as it starts (sitecustomize runs
    after site-packages and .pth files, before a script's folder or the current folder is added), swiftkit's own
    package and the folders the profile allows. The current folder ('') is never one."""
    entries = [os.path.realpath(p) for p in sys.path if p and os.path.isabs(p)]
    return tuple(sorted({*entries, _SWIFTKIT, *_allowed_folders()}))


_ROOTS: tuple[str, ...] = ()
_SEEN: dict[str, bool] = {}  # folder -> inside a root


def _inside_roots(origin: str) -> bool:
    folder = os.path.dirname(origin)
    if folder not in _SEEN:
        real = os.path.realpath(folder)
        _SEEN[folder] = any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in _ROOTS)
    return _SEEN[folder]


def _patch_swift_utils(m: ModuleType) -> None:
    original: Callable[[str], ModuleType] = vars(m)["import_external_file"]
    allowed = {os.path.realpath(p) for p in os.environ.get("SWIFTKIT_ALLOWED_PLUGINS", "").split(os.pathsep) if p}
    allowed |= _SHIPPED_PLUGINS

    def import_external_file(file_path: str) -> ModuleType:
        real = os.path.realpath(os.path.expanduser(file_path))
        if real not in allowed and not any(real.startswith(r + os.sep) for r in _allowed_folders()):
            raise _refuse(f"ms-swift external plugin {file_path}", _FOLDER_HINT)
        return original(file_path)

    vars(m)["import_external_file"] = import_external_file


_PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "transformers.dynamic_module_utils": _patch_transformers,
    "swift.utils.utils": _patch_swift_utils,
}


class _PatchingLoader:  # delegates to the real loader, then patches the freshly executed module
    def __init__(self, inner: Any, patch: Callable[[ModuleType], None]) -> None:
        self._inner, self._patch = inner, patch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        self._patch(module)


class _Guard:  # sys.meta_path[0]: asks the finders after it, then checks where the module's file lies
    def find_spec(self, name: str, path: Sequence[str] | None, target: Any = None) -> ModuleSpec | None:
        if name == "transformers_modules" or name.startswith("transformers_modules."):
            raise _refuse(name)
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or isinstance(finder, _Guard) or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        if spec is None:
            return None
        origin = spec.origin if spec.has_location else None
        if origin and not _inside_roots(origin):
            raise RemoteCodeRefused(
                f"swiftkit: refusing to import {name} from {origin}: it lies outside the Python installation and "
                f"swiftkit (its folder was put on sys.path at run time, e.g. by local_repo_path); {_FOLDER_HINT}"
            )
        if name in _PATCHES and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader, _PATCHES[name])
        return spec


class _ModelDirFinder:  # sys.path_hooks[0]: a model folder on sys.path refuses instead of supplying modules
    def __init__(self, entry: str) -> None:
        self.folder = os.path.abspath(entry or os.curdir)
        if not (
            os.path.isfile(os.path.join(self.folder, "config.json"))
            and any(os.path.isfile(os.path.join(self.folder, n)) for n in _WEIGHTS)
        ):
            raise ImportError  # not a model folder: the next path hook (FileFinder) takes it

    def find_spec(self, name: str, target: Any = None) -> ModuleSpec | None:
        leaf = name.rpartition(".")[2]
        if any(os.path.exists(os.path.join(self.folder, leaf + s)) for s in ("", *all_suffixes())):
            raise _refuse(os.path.join(self.folder, leaf))
        return None


def _chain() -> None:  # exec the next sitecustomize on sys.path after this folder
    real = [os.path.realpath(p or os.curdir) for p in sys.path]
    if _HERE in real:
        after = [p for p, r in zip(sys.path, real, strict=True) if r != _HERE][real.index(_HERE) :]
        spec = PathFinder.find_spec("sitecustomize", after)
        if spec is not None and spec.loader is not None:
            import importlib.util

            sys.modules["_swiftkit_next_sitecustomize"] = module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)


if os.environ.get("SWIFTKIT_REMOTE_CODE") == "off":
    _ROOTS = _startup_roots()
    for _name in set(_PATCHES) & set(sys.modules):  # imported (e.g. by a .pth) before site ran: patch late
        _PATCHES[_name](sys.modules[_name])
    sys.meta_path.insert(0, _Guard())
    sys.path_hooks.insert(0, _ModelDirFinder)
_chain()
