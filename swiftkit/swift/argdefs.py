"""The flags of `swift <command>` for the installed ms-swift, read from its source without importing it.

ms-swift builds each command's parser with transformers' HfArgumentParser over one argument dataclass
(SftArguments, InferArguments, ...), whose bases span swift/arguments/**, swift/trainers/arguments.py and
transformers' TrainingArguments. Importing swift costs seconds, so this module reads those classes with ``ast``:
it resolves base classes across modules (re-exports and lazy ``_import_structure`` packages too), computes the C3
MRO, collects dataclass fields the way ``dataclasses`` does, and emulates what HfArgumentParser makes of each field
(option strings, bool/list/choices handling). :mod:`swiftkit.swift.flags` caches the result per version.

Checked field by field against ms-swift 4.6.0's own HfArgumentParser for ten argument classes (no differences;
tests/test_swift_flags.py repeats the check for `sft`).
"""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

SCHEMA = 3

# swift/cli/<command>.py -> pipeline.args_class (ms-swift 4.x; all exported from swift.arguments)
COMMANDS = {
    "sft": "SftArguments",
    "pt": "PretrainArguments",
    "rlhf": "RLHFArguments",
    "infer": "InferArguments",
    "export": "ExportArguments",
    "merge-lora": "ExportArguments",
    "deploy": "DeployArguments",
    "rollout": "RolloutArguments",
    "eval": "EvalArguments",
    "sample": "SamplingArguments",
    "app": "AppArguments",
}

_MISSING = "<MISSING>"


# ----------------------------------------------------------------------------------------------------------
# locating the installation (no import of swift / transformers)


def find_site_packages() -> Path:
    """The folder that holds the `swift` package, found without importing it."""

    spec = importlib.util.find_spec("swift")  # top-level: locates, does not execute swift/__init__.py
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("ms-swift is not installed in this interpreter; pass site_packages=")
    return Path(list(spec.submodule_search_locations)[0]).parent


def _dist_version(site: Path, dist_prefix: str) -> str:
    for p in site.glob(f"{dist_prefix}-*.dist-info"):
        m = re.match(rf"{re.escape(dist_prefix)}-(.+)\.dist-info$", p.name)
        if m:
            return m.group(1)
    try:  # editable / odd installs
        from importlib.metadata import version

        return version(dist_prefix.replace("_", "-"))
    except Exception:
        return "unknown"


def _package_root(top: str, site: Path) -> Path:
    """Folder holding top-level package `top`: beside swift if there, else wherever this interpreter finds it
    (ms-swift installed with --target next to a system transformers, as on the GPU box)."""
    if (site / top).is_dir() or (site / f"{top}.py").is_file():
        return site

    spec = importlib.util.find_spec(top)
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]).parent
    if spec is not None and spec.origin:
        return Path(spec.origin).parent
    return site


def versions(site: Path) -> dict[str, str]:
    return {
        "ms-swift": _dist_version(site, "ms_swift"),
        "transformers": _dist_version(_package_root("transformers", site), "transformers"),
    }


# ----------------------------------------------------------------------------------------------------------
# module / class resolution over ASTs


class _Module:
    def __init__(self, name: str, path: Path, is_pkg: bool):
        self.name, self.path, self.is_pkg = name, path, is_pkg
        self.tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        self.classes: dict[str, ast.ClassDef] = {}
        self.imports: dict[str, tuple[str, str | None]] = {}  # local name -> (module, attr or None for module)
        self.aliases: dict[str, ast.expr] = {}
        self.lazy: dict[str, str] = {}  # name -> submodule (from _import_structure)
        self._index()

    def _abs(self, module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        pkg = self.name if self.is_pkg else self.name.rpartition(".")[0]
        for _ in range(level - 1):
            pkg = pkg.rpartition(".")[0]
        return f"{pkg}.{module}" if module else pkg

    def _index(self) -> None:
        for node in ast.walk(self.tree):  # walk: also catches `if TYPE_CHECKING:` / try-blocks
            if isinstance(node, ast.ImportFrom):
                mod = self._abs(node.module, node.level)
                for a in node.names:
                    self.imports.setdefault(a.asname or a.name, (mod, a.name))
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.imports.setdefault(a.asname, (a.name, None))
                    else:
                        top = a.name.split(".")[0]
                        self.imports.setdefault(top, (top, None))
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                tgt = node.targets[0].id
                if tgt == "_import_structure" and isinstance(node.value, ast.Dict):
                    for k, v in zip(node.value.keys, node.value.values, strict=False):
                        if isinstance(k, ast.Constant) and isinstance(v, (ast.List, ast.Tuple)):
                            for e in v.elts:
                                if isinstance(e, ast.Constant):
                                    self.lazy.setdefault(str(e.value), str(k.value))
        for node in self.tree.body:  # classes / aliases: module level only
            if isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, (ast.Name, ast.Attribute))
            ):
                self.aliases[node.targets[0].id] = node.value


UNKNOWN = object()  # module_value: an expression it cannot fold


def _dict_keys_first(expr: ast.Dict) -> dict[Any, Any]:
    """A dict display whose keys are constants; a value that is not becomes its source text."""
    out: dict[Any, Any] = {}
    for key, value in zip(expr.keys, expr.values, strict=False):
        assert key is not None
        try:
            out[ast.literal_eval(key)] = ast.literal_eval(value)
        except Exception:
            out[ast.literal_eval(key)] = ast.unparse(value)
    return out


class _Resolver:
    def __init__(self, site: Path):
        self.site = site
        self.modules: dict[str, _Module | None] = {}
        self.roots: dict[str, Path] = {}
        self.unresolved: set[str] = set()

    def module(self, name: str) -> _Module | None:
        if name in self.modules:
            return self.modules[name]
        top = name.split(".")[0]
        if top not in self.roots:
            self.roots[top] = _package_root(top, self.site)
        base = self.roots[top].joinpath(*name.split("."))
        mod = None
        if (base / "__init__.py").is_file():
            mod = _Module(name, base / "__init__.py", True)
        elif base.with_suffix(".py").is_file():
            mod = _Module(name, base.with_suffix(".py"), False)
        self.modules[name] = mod
        return mod

    def class_node(self, loc: tuple[str, str]) -> ast.ClassDef:
        mod = self.module(loc[0])
        assert mod is not None, loc
        return mod.classes[loc[1]]

    def resolve(self, modname: str, symbol: str, depth: int = 0) -> tuple[str, str] | None:
        """(module, class name) where `symbol` seen from module `modname` is defined, or None."""
        if depth > 20:
            return None
        mod = self.module(modname)
        if mod is None:
            return None
        if symbol in mod.classes:
            return modname, symbol
        if symbol in mod.aliases:
            return self.resolve_expr(modname, mod.aliases[symbol], depth + 1)
        if symbol in mod.imports:
            src, attr = mod.imports[symbol]
            if attr is None:
                return None  # a module, not a class
            return self.resolve(src, attr, depth + 1)
        if symbol in mod.lazy:
            return self.resolve(f"{modname}.{mod.lazy[symbol]}", symbol, depth + 1)
        return None

    def module_value(self, modname: str, expr: Any, depth: int = 0) -> Any:
        """Best-effort constant folding of module-level expressions such as `trainer_log_levels.keys()`
        (names, `.keys()`/`.copy()`, `dict(**a, k=v)`, a module function that just returns a name)."""
        if depth > 10:
            raise ValueError(ast.unparse(expr))
        try:
            return ast.literal_eval(expr)
        except Exception:
            pass
        if isinstance(expr, ast.Dict) and None not in expr.keys:  # keys matter (choices); values best effort
            return _dict_keys_first(expr)
        found: Any = UNKNOWN
        if isinstance(expr, ast.Name):
            found = self._name_value(modname, expr, depth)
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            found = self._method_value(modname, expr, depth)
        elif (
            isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "dict" and not expr.args
        ):
            found = self._dict_call_value(modname, expr, depth)
        if found is UNKNOWN:
            raise ValueError(ast.unparse(expr))
        return found

    def _name_value(self, modname: str, expr: ast.Name, depth: int) -> Any:
        """A module-level name: the value it is assigned, or the name it is imported as from another module."""
        mod = self.module(modname)
        if mod is None:
            return UNKNOWN
        for node in mod.tree.body:
            if (
                isinstance(node, (ast.Assign, ast.AnnAssign))
                and node.value is not None
                and any(
                    isinstance(t, ast.Name) and t.id == expr.id
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                )
            ):
                return self.module_value(modname, node.value, depth + 1)
        if expr.id in mod.imports and mod.imports[expr.id][1] is not None:
            src, attr = mod.imports[expr.id]
            return self.module_value(src, ast.Name(str(attr)), depth + 1)
        return UNKNOWN

    def _method_value(self, modname: str, expr: ast.Call, depth: int) -> Any:
        """``x.keys()`` / ``.copy()`` / ``.values()``, or ``module.function()`` whose last line returns a value."""
        assert isinstance(expr.func, ast.Attribute)
        if expr.func.attr in ("keys", "copy", "values") and not expr.args:
            got: Any = self.module_value(modname, expr.func.value, depth + 1)
            return {"keys": lambda: list(got), "copy": lambda: dict(got), "values": lambda: list(got.values())}[
                expr.func.attr
            ]()
        mod = self.module(modname)
        if not (isinstance(expr.func.value, ast.Name) and mod is not None and expr.func.value.id in mod.imports):
            return UNKNOWN
        src, attr = mod.imports[expr.func.value.id]
        target = src if attr is None else f"{src}.{attr}"
        fmod = self.module(target)
        for node in fmod.tree.body if fmod is not None else []:
            if (
                isinstance(node, ast.FunctionDef)
                and node.name == expr.func.attr
                and len(node.body) >= 1
                and isinstance(node.body[-1], ast.Return)
            ):
                return self.module_value(target, node.body[-1].value, depth + 1)
        return UNKNOWN

    def _dict_call_value(self, modname: str, expr: ast.Call, depth: int) -> dict[Any, Any]:
        """``dict(**a, k=v)``."""
        out: dict[Any, Any] = {}
        for kw in expr.keywords:
            v = self.module_value(modname, kw.value, depth + 1)
            if kw.arg is None:
                out.update(v)
            else:
                out[kw.arg] = v
        return out

    def resolve_expr(self, modname: str, expr: Any, depth: int = 0) -> tuple[str, str] | None:
        if isinstance(expr, ast.Name):
            return self.resolve(modname, expr.id, depth)
        if isinstance(expr, ast.Attribute):  # pkg.mod.Class or alias.Class
            parts = []
            e: Any = expr
            while isinstance(e, ast.Attribute):
                parts.append(e.attr)
                e = e.value
            if isinstance(e, ast.Name):
                mod = self.module(modname)
                head = mod.imports.get(e.id) if mod else None
                root = head[0] if head and head[1] is None else (f"{head[0]}.{head[1]}" if head else e.id)
                parts.reverse()
                return self.resolve(".".join([root] + parts[:-1]), parts[-1], depth + 1)
        if isinstance(expr, ast.Subscript):  # Generic[T] etc.
            return None
        return None


def _is_dataclass(node: ast.ClassDef) -> bool:
    for d in node.decorator_list:
        f = d.func if isinstance(d, ast.Call) else d
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        if name == "dataclass":
            return True
    return False


def _c3(key: Any, bases_of: Callable[[Any], list[Any]]) -> list[Any]:
    seqs = [_c3(b, bases_of) for b in bases_of(key)] + [list(bases_of(key))]
    out = [key]
    seqs = [s[:] for s in seqs if s]
    while seqs:
        for s in seqs:
            head = s[0]
            if not any(head in t[1:] for t in seqs):
                break
        else:
            raise TypeError(f"inconsistent MRO for {key}")
        out.append(head)
        for t in seqs:
            if t and t[0] == head:
                del t[0]
        seqs = [t for t in seqs if t]
    return out


# ----------------------------------------------------------------------------------------------------------
# type emulation (what HfArgumentParser does with a field's annotation)

_ENUM_BASES = {"Enum", "ExplicitEnum", "StrEnum", "IntEnum"}


class _Types:
    def __init__(self, res: _Resolver):
        self.res = res
        self._enum_cache: dict[tuple[str, str], list | None] = {}

    def enum_values(self, loc: tuple[str, str]) -> Optional[list[Any]]:
        if loc in self._enum_cache:
            return self._enum_cache[loc]
        node = self.res.class_node(loc)
        is_enum = False
        for b in node.bases:
            name = b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", None)
            if name in _ENUM_BASES:
                is_enum = True
            else:
                r = self.res.resolve_expr(loc[0], b)
                if r and self.enum_values(r) is not None:
                    is_enum = True
        vals = None
        if is_enum:
            vals = []
            for st in node.body:
                if (
                    isinstance(st, ast.Assign)
                    and isinstance(st.targets[0], ast.Name)
                    and isinstance(st.value, ast.Constant)
                    and not st.targets[0].id.startswith("_")
                ):
                    vals.append(st.value.value)
        self._enum_cache[loc] = vals
        return vals

    def norm(self, modname: str, e: Any) -> Any:
        """Annotation -> ('union', [..]) | ('literal', [..]) | ('list', elem) | ('enum', values) | name str."""
        if isinstance(e, ast.Constant):
            if e.value is None:
                return "None"
            if isinstance(e.value, str):  # string annotation
                return self.norm(modname, ast.parse(e.value, mode="eval").body)
        if isinstance(e, ast.BinOp) and isinstance(e.op, ast.BitOr):
            return self._union([self.norm(modname, e.left), self.norm(modname, e.right)])
        if isinstance(e, ast.Subscript):
            head = e.value.attr if isinstance(e.value, ast.Attribute) else getattr(e.value, "id", "")
            items = e.slice.elts if isinstance(e.slice, ast.Tuple) else [e.slice]
            if head == "Optional":
                return self._union([self.norm(modname, items[0]), "None"])
            if head == "Union":
                return self._union([self.norm(modname, i) for i in items])
            if head == "Literal":
                vals = []
                for i in items:
                    vals.append(None if isinstance(i, ast.Constant) and i.value is None else ast.literal_eval(i))
                return ("literal", vals)
            if head in ("List", "list", "Sequence"):
                return ("list", self.norm(modname, items[0]))
            if head in ("Dict", "dict", "Mapping"):
                return "dict"
            if head in ("Tuple", "tuple"):
                return "tuple"
            return head
        if isinstance(e, (ast.Name, ast.Attribute)):
            name = e.attr if isinstance(e, ast.Attribute) else e.id
            if name in ("str", "int", "float", "bool", "dict", "list", "Any", "tuple"):
                return {"list": ("list", "Any")}.get(name, name)
            loc = self.res.resolve_expr(modname, e)
            if loc:
                found = self.enum_values(loc)
                if found is not None:
                    return ("enum", found, name)
            return name
        return ast.unparse(e)

    @staticmethod
    def _union(parts: list[Any]) -> Any:
        flat = []
        for p in parts:
            for q in p[1] if isinstance(p, tuple) and p[0] == "union" else [p]:
                if q not in flat:
                    flat.append(q)
        # ms-swift's _patch_get_type_hints: Union[str, dict, None] -> Union[dict, str, None]
        if flat == ["str", "dict", "None"]:
            flat = ["dict", "str", "None"]
        return flat[0] if len(flat) == 1 else ("union", flat)

    @staticmethod
    def argparse_view(t: Any) -> dict[str, Any]:
        """Emulates HfArgumentParser._parse_dataclass_field's type handling."""
        if isinstance(t, tuple) and t[0] == "union":
            args = t[1]
            if "str" not in args and (len(args) != 2 or "None" not in args):
                return {"kind": "error", "argtype": None}
            if "None" not in args:
                t = args[0] if args[1] == "str" else args[1]
            elif "bool" not in args:
                t = args[0] if args[1] == "None" else args[1]
            elif args in (["bool", "None"], ["None", "bool"]):
                return {"kind": "bool", "argtype": "string_to_bool"}
        if isinstance(t, tuple) and t[0] == "literal":
            return {"kind": "choices", "choices": t[1], "argtype": "make_choice_type_function"}
        if isinstance(t, tuple) and t[0] == "enum":
            return {"kind": "choices", "choices": t[1], "argtype": "make_choice_type_function"}
        if t == "bool":
            return {"kind": "bool", "argtype": "string_to_bool"}
        if isinstance(t, tuple) and t[0] == "list":
            elem = t[1]
            if isinstance(elem, tuple) and elem[0] == "enum":
                return {"kind": "list", "nargs": "+", "argtype": elem[2], "choices_each": elem[1]}
            return {"kind": "list", "nargs": "+", "argtype": elem if isinstance(elem, str) else str(elem)}
        if isinstance(t, tuple) and t[0] == "union":
            return {"kind": "value", "argtype": "Union"}
        return {"kind": "value", "argtype": t if isinstance(t, str) else str(t)}


def _literal(e: Any) -> Any:
    if e is None:
        return _MISSING
    try:
        return ast.literal_eval(e)
    except Exception:
        pass
    if isinstance(e, ast.Lambda):  # default_factory=lambda: [...]
        return _literal(e.body)
    if isinstance(e, ast.Name) and e.id in ("list", "dict", "set", "tuple"):
        return {"list": [], "dict": {}, "set": [], "tuple": []}[e.id]
    return {"expr": ast.unparse(e)}


def _own_fields(modname: str, node: ast.ClassDef, res: _Resolver) -> dict[str, dict]:
    out = {}
    for st in node.body:
        if not (isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)):
            continue
        ann = ast.unparse(st.annotation)
        if re.match(r"^(typing\.)?(ClassVar|InitVar)\b", ann) or re.match(r"^(dataclasses\.)?InitVar\b", ann):
            continue
        f: dict[str, Any] = {
            "type": ann,
            "ann": st.annotation,
            "module": modname,
            "owner": node.name,
            "init": True,
            "default": _MISSING,
            "metadata": {},
        }
        v = st.value
        if isinstance(v, ast.Call) and (
            getattr(v.func, "id", None) == "field" or getattr(v.func, "attr", None) == "field"
        ):
            for kw in v.keywords:
                if kw.arg == "default":
                    f["default"] = _literal(kw.value)
                elif kw.arg == "default_factory":
                    f["default"] = _literal(kw.value)  # lambda: [...] -> [...]; list -> []
                    f["factory"] = True
                elif kw.arg == "init":
                    f["init"] = _literal(kw.value) is not False
                elif kw.arg == "metadata" and isinstance(kw.value, ast.Dict):
                    for k, mv in zip(kw.value.keys, kw.value.values, strict=False):
                        if isinstance(k, ast.Constant) and k.value != "help":
                            f["metadata"][k.value] = mv  # ast; evaluated later with the resolver
        elif v is not None:
            f["default"] = _literal(v)
        meta = {}
        for k, mv in f["metadata"].items():
            try:
                meta[k] = res.module_value(modname, mv)
            except Exception:
                meta[k] = {"expr": ast.unparse(mv)}
        f["metadata"] = meta
        out[st.target.id] = f
    return out


class _Dataclasses:
    """The MRO and ``__dataclass_fields__`` of classes read from source (each computed once)."""

    def __init__(self, res: _Resolver) -> None:
        self.res = res
        self._mro: dict[Any, list[Any]] = {}
        self._fields: dict[Any, Optional[dict[str, dict[str, Any]]]] = {}

    def bases_of(self, loc: Any) -> list[Any]:
        node = self.res.class_node(loc)
        out = []
        for b in node.bases:
            r = self.res.resolve_expr(loc[0], b)
            if r is None:
                self.res.unresolved.add(f"{loc[0]}.{loc[1]} <- {ast.unparse(b)}")
            else:
                out.append(r)
        return out

    def mro(self, loc: Any) -> list[Any]:
        if loc not in self._mro:
            self._mro[loc] = _c3(loc, self.bases_of)
        return self._mro[loc]

    def fields(self, loc: Any) -> Optional[dict[str, dict[str, Any]]]:
        """getattr(cls, '__dataclass_fields__'): own if dataclass, else the first dataclass in its MRO."""
        if loc not in self._fields:
            self._fields[loc] = self._compute_fields(loc)
        return self._fields[loc]

    def _compute_fields(self, loc: Any) -> Optional[dict[str, dict[str, Any]]]:
        node = self.res.class_node(loc)
        if not _is_dataclass(node):
            return next((bf for bf in (self.fields(b) for b in self.mro(loc)[1:]) if bf is not None), None)
        result: dict[str, dict[str, Any]] = {}
        for b in reversed(self.mro(loc)[1:]):
            result.update(self.fields(b) or {})
        result.update(_own_fields(loc[0], node, self.res))
        return result


def _options(name: str, f: dict[str, Any], view: dict[str, Any], default: Any) -> list[str]:
    """Every spelling argparse accepts for a field: ``--a_b``, ``--a-b``, aliases, ``--no_a_b`` for true bools."""
    opts = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
    aliases = f["metadata"].get("aliases")
    if aliases:
        opts += [aliases] if isinstance(aliases, str) else list(aliases)
    if view["kind"] == "bool" and default is True:
        opts += [f"--no_{name}", f"--no-{name.replace('_', '-')}"]
    return opts


def _field_info(name: str, f: dict[str, Any], types: _Types) -> dict[str, Any]:
    """One dataclass field as HfArgumentParser turns it into an argparse option."""
    t = types.norm(f["module"], f["ann"])
    view = types.argparse_view(t)
    default = f["default"]
    opts = _options(name, f, view, default)
    if "choices" in f["metadata"]:  # HfArgumentParser passes metadata through to add_argument
        ch = f["metadata"]["choices"]
        view["choices"] = list(ch) if isinstance(ch, (list, tuple, dict)) else None
        if view["kind"] == "value":
            view["kind"] = "choices"
    required = default == _MISSING and view["kind"] != "bool"
    if view["kind"] == "list" and not f.get("factory") and default != _MISSING:
        default = _MISSING  # HfArgumentParser passes only a default_factory's value for list fields
    if view["kind"] == "bool" and default == _MISSING and t == "bool":
        default = False
    return {
        "type": f["type"],
        "default": None if default == _MISSING else default,
        "required": required,
        "owner": f"{f['module']}.{f['owner']}",
        "options": opts,
        **view,
    }


def compute(site: Path, class_names: set[str]) -> dict[str, Any]:
    res = _Resolver(site)
    types = _Types(res)
    classes = _Dataclasses(res)
    out: dict[str, Any] = {}
    for cname in sorted(class_names):
        loc = res.resolve("swift.arguments", cname)
        if loc is None:
            continue
        fields = classes.fields(loc) or {}
        out[cname] = {name: _field_info(name, f, types) for name, f in fields.items() if f["init"]}
    return {"classes": out, "unresolved": sorted(res.unresolved)}
