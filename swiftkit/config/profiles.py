"""Finding, loading and merging profiles: built-ins, paths, ``extends:``, ``--set`` overrides, "did you mean".

Every problem in a profile (and its overrides) is collected and reported at once, each line naming the file
(or ``--set``) and the dotted key.
"""

from __future__ import annotations

import copy
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from swiftkit import resources
from swiftkit.config.schema import Profile
from swiftkit.errors import SwiftkitError, UsageError
from swiftkit.fsutil import file_problem, open_regular

MAX_PROFILE_BYTES = 256 * 1024
PROFILE_SUFFIXES = (".yaml", ".yml")


def builtin_dir() -> Path:
    """The folder of built-in profiles, shipped inside the package (``SWIFTKIT_PROFILES_DIR`` wins)."""
    override = os.environ.get("SWIFTKIT_PROFILES_DIR")
    if override:
        return Path(override)
    return resources.path("profiles")


def builtin_names() -> list[str]:
    folder = builtin_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


@dataclass
class LoadedProfile:
    """A validated profile, with where it came from."""

    name: str
    path: Path
    profile: Profile
    chain: list[Path] = field(default_factory=list)  # the file and every file it extends, child first
    overrides: list[str] = field(default_factory=list)


def find(name_or_path: str) -> Path:
    """A profile file from a built-in name or a path."""
    candidate = Path(name_or_path).expanduser()
    looks_like_path = os.sep in name_or_path or name_or_path.endswith(PROFILE_SUFFIXES)
    if looks_like_path:
        problem = file_problem(candidate)
        if not problem:
            return candidate
        if candidate.is_dir():
            raise SwiftkitError(f"{name_or_path} is a folder, not a profile file; give a .yaml file.")
        if not os.path.lexists(candidate):
            raise SwiftkitError(
                f"profile file {name_or_path} does not exist; check the path or run 'swiftkit profiles list'."
            )
        raise SwiftkitError(f"profile file {name_or_path} {problem}.")
    builtin = builtin_dir() / f"{name_or_path}.yaml"
    if builtin.is_file():
        return builtin
    names = builtin_names()
    close = difflib.get_close_matches(name_or_path, names, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise SwiftkitError(
        f"unknown profile '{name_or_path}'.{hint} Run 'swiftkit profiles list' to see the names, "
        "or give a path to a .yaml file."
    )


MAX_DEPTH = 32  # nested lists/mappings; real profiles use 4


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML without anchors/aliases (no alias bombs), without duplicate or non-scalar keys, and nested at most
    MAX_DEPTH levels (deeper input would exhaust Python's recursion in the composer)."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.MarkedYAMLError(
                problem="anchors and aliases (&name, *name) are not allowed in profiles",
                problem_mark=event.start_mark,
            )
        if self._depth >= MAX_DEPTH:
            raise yaml.MarkedYAMLError(
                problem=f"nested more than {MAX_DEPTH} levels deep; a profile is a few levels of keys",
                problem_mark=event.start_mark,
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "mapping" if isinstance(key_node, yaml.MappingNode) else "list"
                raise yaml.MarkedYAMLError(
                    problem=f"a key must be a plain name, not a {kind}", problem_mark=key_node.start_mark
                )
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.MarkedYAMLError(problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """Parse one profile document; the result must be a mapping."""
    if len(text.encode("utf-8")) > MAX_PROFILE_BYTES:
        raise SwiftkitError(f"{source}: larger than {MAX_PROFILE_BYTES // 1024} KiB; a profile is a short YAML file.")
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise SwiftkitError(f"{source}{where}: {exc.problem}; fix the YAML and try again.") from None
    except yaml.YAMLError as exc:
        raise SwiftkitError(f"{source}: not valid YAML ({exc}); fix it and try again.") from None
    except RecursionError:  # a bound above should stop it first; never a traceback for a user's file
        raise SwiftkitError(f"{source}: nested too deeply to read; fix the YAML and try again.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SwiftkitError(f"{source}: a profile must be a mapping of keys to values, not {type(data).__name__}.")
    return data


def read_profile_file(path: Path) -> dict[str, Any]:
    try:
        with open_regular(path) as handle:
            raw = handle.read(MAX_PROFILE_BYTES + 1)
    except OSError as exc:
        raise SwiftkitError(f"cannot read profile {path}: {exc.strerror}.") from None
    if len(raw) > MAX_PROFILE_BYTES:
        raise SwiftkitError(f"{path}: larger than {MAX_PROFILE_BYTES // 1024} KiB; a profile is a short YAML file.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SwiftkitError(f"{path}: not UTF-8 text; save it as UTF-8.") from None
    return parse_yaml(text, str(path))


def _dataset_entries(data: dict[str, Any]) -> list[Any]:
    datasets = (data.get("data") or {}).get("datasets") if isinstance(data.get("data"), dict) else None
    return datasets if isinstance(datasets, list) else []


def _resolve_builtins(data: dict[str, Any]) -> None:
    """``builtin:X`` dataset paths (also those given with --set) -> the shipped file."""
    for entry in _dataset_entries(data):
        for key in ("path", "replay"):
            if isinstance(entry, dict) and isinstance(entry.get(key), str):
                entry[key] = resources.resolve_builtin(entry[key])


def _absolutise_paths(data: dict[str, Any], base: Path) -> None:
    """Local dataset and prompt-file paths in a file are relative to that file's folder (``builtin:`` ones are
    resolved once everything is merged)."""
    for entry in _dataset_entries(data):
        for key in ("path", "replay"):
            if isinstance(entry, dict) and isinstance(entry.get(key), str):
                if entry[key].startswith(resources.BUILTIN_PREFIX):
                    continue
                path = Path(entry[key]).expanduser()
                if not path.is_absolute():
                    entry[key] = str((base / path).resolve())


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Merge mappings recursively; lists and scalars in ``top`` replace those in ``base``."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _load_chain(path: Path) -> tuple[dict[str, Any], list[Path], dict[str, str]]:
    """Read a profile and everything it extends; return the merged data, the chain and key provenance."""
    chain: list[Path] = []
    layers: list[tuple[Path, dict[str, Any]]] = []
    current: Path | None = path
    while current is not None:
        resolved = current.resolve()
        if resolved in [p.resolve() for p in chain]:
            cycle = " -> ".join(str(p) for p in [*chain, current])
            raise SwiftkitError(f"{path}: 'extends' forms a cycle ({cycle}); remove one of the links.")
        chain.append(current)
        data = read_profile_file(current)
        parent = data.pop("extends", None)
        _absolutise_paths(data, current.parent)
        layers.append((current, data))
        if parent is None:
            current = None
        elif not isinstance(parent, str) or not parent:
            raise SwiftkitError(f"{current}: extends: must be a profile name or a path to a .yaml file.")
        else:
            relative = current.parent / parent
            current = relative if parent.endswith(PROFILE_SUFFIXES) and os.path.lexists(relative) else find(parent)
    merged: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    for source, data in reversed(layers):
        merged = deep_merge(merged, data)
        for key in _flat_keys(data):
            provenance[key] = str(source)
    return merged, chain, provenance


def _flat_keys(data: Any, prefix: str = "") -> list[str]:
    keys = []
    if isinstance(data, dict):
        for key, value in data.items():
            dotted = f"{prefix}{key}"
            keys.append(dotted)
            keys.extend(_flat_keys(value, dotted + "."))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            dotted = f"{prefix}{index}"
            keys.append(dotted)
            keys.extend(_flat_keys(value, dotted + "."))
    return keys


def parse_override(text: str) -> tuple[list[str], Any]:
    """``key.sub=value`` -> (["key", "sub"], value). Lists/mappings/null are YAML; other values stay strings."""
    if "=" not in text:
        raise UsageError(f"--set {text!r}: expected KEY=VALUE, e.g. --set train.learning_rate=2e-4.")
    key, value = text.split("=", 1)
    parts = key.strip().split(".")
    if not key.strip() or any(not p for p in parts):
        raise UsageError(f"--set {text!r}: the key must be dotted names such as train.max_length.")
    stripped = value.strip()
    if stripped[:1] in ("[", "{") or stripped in ("null", "~"):
        parsed: Any = parse_yaml(f"v: {stripped}", f"--set {key}")["v"]
        return parts, parsed
    return parts, value


def apply_override(data: dict[str, Any], parts: list[str], value: Any, text: str) -> None:
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise UsageError(
                    f"--set {text}: '{'.'.join(parts[:i])}' is a list of {len(node)}; "
                    f"use an index from 0 to {len(node) - 1}."
                )
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
            continue
        if not isinstance(node, dict):
            raise UsageError(f"--set {text}: '{'.'.join(parts[:i])}' is a single value, not a section.")
        if last:
            node[part] = value
        else:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The Pydantic model class found by walking ``loc`` from ``model`` (None when it leads elsewhere)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current = _unwrap(current.model_fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Optional[X] -> X, list[X] -> X."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    if origin in (list, tuple):
        return _unwrap(typing.get_args(annotation)[0])
    return annotation


def _suggest(loc: tuple[Any, ...]) -> str:
    parent = _model_at(Profile, loc[:-1])
    if parent is None:
        return ""
    names = list(parent.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; valid keys here: {', '.join(names)}"


def format_loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _source_for(key: str, provenance: dict[str, str], default: str) -> str:
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in provenance:
            return provenance[prefix]
    return default


def validation_problems(exc: ValidationError, provenance: dict[str, str], default_source: str) -> list[str]:
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        key = format_loc(loc)
        if error["type"] == "extra_forbidden":
            message = "unknown key" + _suggest(loc)
        elif error["type"] == "missing":
            message = "required key is missing"
        else:
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] not in ("value_error", "assertion_error") and "input" in error:
                message += f" (got {error['input']!r})"
        lines.append(f"{_source_for(key, provenance, default_source)}: {key}: {message}")
    return sorted(set(lines))


def load(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()) -> LoadedProfile:
    """Load, merge and validate a profile; raise one SwiftkitError listing every problem."""
    path = find(name_or_path)
    data, chain, provenance = _load_chain(path)
    for text in overrides:
        parts, value = parse_override(text)
        apply_override(data, parts, value, text)
        for key in _flat_keys({parts[0]: value} if len(parts) == 1 else _nest(parts, value)):
            provenance[key] = f"--set {text}"
    _resolve_builtins(data)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, provenance, str(path))
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        # every problem from a --set value: the command line is wrong (exit 2), not the file
        kind = UsageError if all(p.startswith("--set ") for p in problems) else SwiftkitError
        raise kind(
            f"profile {name_or_path} has {count}:\n  "
            + "\n  ".join(problems)
            + "\nFix them in the file (or the --set value) and try again."
        ) from None
    name = path.stem
    return LoadedProfile(name=name, path=path, profile=profile, chain=chain, overrides=list(overrides))


def _nest(parts: list[str], value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(parts):
        out = {part: out}
    return out


def copy_builtin(name: str, dest: Path, force: bool = False) -> Path:
    """Copy a built-in profile file (comments and all) to ``dest``; local dataset paths are rewritten to stay valid."""
    from swiftkit.fsutil import atomic_write_text

    source = find(name)
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / source.name
    if dest.suffix not in PROFILE_SUFFIXES:
        raise SwiftkitError(f"{dest}: a profile file ends in .yaml or .yml.")
    text = source.read_text(encoding="utf-8")
    # relative paths in a profile are relative to its folder: re-anchor them at the new place
    rebased = []
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip()
        for key in ("- path: ", "path: ", "- replay: ", "replay: "):
            if stripped.startswith(key):
                value = stripped[len(key) :].strip()
                if (
                    value
                    and not Path(value).is_absolute()
                    and not value.startswith(("'", '"', resources.BUILTIN_PREFIX))
                ):
                    target = (source.parent / value).resolve()
                    new = os.path.relpath(target, Path(dest).absolute().parent)
                    line = line.replace(value, new, 1)
                break
        rebased.append(line)
    written = atomic_write_text(dest, "".join(rebased), force=force)
    load(str(written))  # the copy must load: a broken copy is a bug
    return written


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a profile file (``extends`` included)."""
    schema = Profile.model_json_schema()
    schema["properties"]["extends"] = {
        "type": "string",
        "description": "A built-in profile name or a path to a .yaml file this profile starts from.",
    }
    schema["title"] = "swiftkit profile"
    return schema
