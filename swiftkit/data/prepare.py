"""The data a run trains on: templates filled, local samples drawn, ratios resolved — into the run's folder.

:func:`plan_data` decides everything without writing (for ``plan`` and ``--dry-run``);
``data.resolve.write_data`` writes the files it planned, atomically. Each entry records its source, hash, counts
and seed for the run manifest, so a run can be reproduced.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from swiftkit.config.schema import DatasetEntry, Profile
from swiftkit.data import identity as ident
from swiftkit.data.readers import ReadError, read_records
from swiftkit.data.replay import replay_path
from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import file_problem, open_regular, shown_path
from swiftkit.layout import RUN_DATA


@dataclass
class PreparedEntry:
    source: str  # local path or hub id
    role: str  # identity | general
    argv_value: str  # what goes after --dataset
    records: Optional[int] = None  # records in the source file (local)
    used: Optional[int] = None  # records that go to training (None: all / decided by ms-swift)
    seed: Optional[int] = None
    sha256: Optional[str] = None
    write_to: Optional[str] = None  # a file swiftkit writes into the run folder
    note: str = ""
    replay_prompts: Optional[str] = None  # self-replay: the prompts file whose cached answers are ``source``

    def manifest(self) -> dict[str, Any]:
        return asdict(self)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _local(entry: DatasetEntry) -> Path:
    assert entry.path is not None
    path = Path(entry.path)
    problem = file_problem(path)
    if problem:
        raise SwiftkitError(f"dataset {entry.path} {problem.split(';')[0]}; fix data.datasets in the profile.")
    return path


def local_shadow(value: str) -> Optional[Path]:
    """The local file or folder ms-swift reads instead of the hub dataset ``value`` (its ``--dataset`` syntax
    ``[hf::|ms::]owner/name[:subsets][#N]``): ms-swift tests ``os.path.exists`` on the whole string and on each
    part as it strips the prefix, the sample and the subsets, and loads a local folder by that name ("Use local
    folder") without swiftkit ever validating it. None when nothing local shadows it."""
    candidates = [value]
    rest = value.split("::", 1)[1] if "::" in value else value
    candidates.append(rest)
    rest = rest.rsplit("#", 1)[0]
    candidates.append(rest)
    candidates.append(rest.split(":", 1)[0])
    for candidate in candidates:
        if candidate and os.path.exists(candidate):
            return Path(candidate)
    return None


def hub_spec(hub: str, sample: Optional[int]) -> str:
    """ms-swift's spelling of a hub dataset, sampled: ``owner/name#N``."""
    return f"{hub}#{sample}" if sample else hub


def count_records(path: Path) -> int:
    return sum(1 for item in read_records(path) if type(item) is not ReadError)


def has_placeholders(path: Path) -> bool:
    with open_regular(path) as handle:
        for raw in handle:
            if (b"{{" in raw or b"NAME" in raw or b"AUTHOR" in raw) and ident.placeholder_in(
                raw.decode("utf-8", errors="replace")
            ):
                return True
    return False


def sample_indices(total: int, wanted: int, seed: int) -> list[int]:
    """``wanted`` distinct indices of ``range(total)``, seeded, in file order (all of them when wanted ≥ total)."""
    if wanted >= total:
        return list(range(total))
    return sorted(random.Random(seed).sample(range(total), wanted))


class _OutNames:
    """Unique JSONL names in the run's data folder for the files swiftkit writes (``name.jsonl``, ``name-2.jsonl``)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.used: set[str] = set()

    def __call__(self, path: Path) -> Path:
        stem = path.name.replace(".template.", ".").rsplit(".", 1)[0]
        candidate, n = f"{stem}.jsonl", 1
        while candidate in self.used:
            n += 1
            candidate = f"{stem}-{n}.jsonl"
        self.used.add(candidate)
        return self.data_dir / candidate


def _add_note(p: PreparedEntry, note: str) -> None:
    p.note = (p.note + "; " if p.note else "") + note


def _local_entry(path: Path, role: str, replay_prompts: Optional[str] = None) -> PreparedEntry:
    total = count_records(path)
    return PreparedEntry(
        source=str(path),
        role=role,
        argv_value=shown_path(str(path)),
        records=total,
        sha256=file_sha256(path),
        used=total,
        replay_prompts=replay_prompts,
    )


def _write_into_run(p: PreparedEntry, out_name: _OutNames) -> None:
    p.write_to = str(out_name(Path(p.source)))
    p.argv_value = shown_path(p.write_to)


def _sampled(p: PreparedEntry, wanted: int, seed: int) -> None:
    total = p.records or 0
    p.used, p.seed = min(wanted, total), seed
    if wanted > total:
        p.note = f"asked for {wanted} records, the file has {total}: using all {total} (no repeats)"


def _plan_identity(profile: Profile, entry: DatasetEntry, out_name: _OutNames) -> PreparedEntry:
    """A local identity file: filled when it is a template, sampled when asked; it sets what ratios count."""
    path = _local(entry)
    p = _local_entry(path, "identity")
    templated = has_placeholders(path)
    if templated and profile.identity is None:
        raise SwiftkitError(
            f"{path} has {{{{NAME}}}}/{{{{AUTHOR}}}} placeholders but the profile has no identity: section; "
            "add identity: {name: ..., author: ...} or render it with 'swiftkit identity render'."
        )
    wanted = entry.sample
    if templated or (wanted is not None and wanted < (p.records or 0)):
        _write_into_run(p, out_name)
    if wanted is not None:
        _sampled(p, wanted, profile.train.data_seed)
    if templated:
        _add_note(p, "placeholders filled from the profile's identity")
    return p


def _plan_hub(profile: Profile, entry: DatasetEntry, wanted: Optional[int], identity_count: int) -> PreparedEntry:
    assert entry.hub is not None
    value = hub_spec(entry.hub, wanted)
    shadow = local_shadow(value)
    if shadow is not None:
        kind = "folder" if shadow.is_dir() else "file"
        raise SwiftkitError(
            f"data.datasets hub {entry.hub!r} is also a local {kind} here ({shadow.resolve()}), and ms-swift "
            f"would train that {kind} instead of the hub dataset, unvalidated. Give it as 'path: ./{shadow}' "
            f"(a file) to validate and train it, or run from another folder (or rename the local one) to "
            f"use the hub dataset."
        )
    p = PreparedEntry(
        source=entry.hub,
        role=entry.role,
        argv_value=value,
        used=wanted,
        seed=profile.train.data_seed if wanted else None,
        note="sampled by ms-swift (--data_seed)" if wanted else "",
    )
    if entry.ratio is not None:
        p.note += f"; ratio {entry.ratio} x {identity_count} identity records"
    return p


def _plan_other(
    profile: Profile, entry: DatasetEntry, wanted: Optional[int], identity_count: int, out_name: _OutNames
) -> PreparedEntry:
    """A local file or a self-replay file (planned before it exists: made before training), sampled when asked."""
    if entry.replay is not None:
        path = replay_path(profile, Path(entry.replay))
        if not path.is_file():
            return PreparedEntry(
                source=str(path),
                role=entry.role,
                argv_value=shown_path(str(path)),
                used=wanted,
                note=f"self-replay of {entry.replay}: made by 'swiftkit replay' before training",
                replay_prompts=entry.replay,
            )
    else:
        path = _local(entry)
    p = _local_entry(path, entry.role, entry.replay)
    if wanted is not None:
        if wanted < (p.records or 0):
            _write_into_run(p, out_name)
        _sampled(p, wanted, profile.train.data_seed)
        if entry.ratio is not None:
            _add_note(p, f"ratio {entry.ratio} x {identity_count} identity records")
    return p


def plan_data(profile: Profile, run_dir: Path) -> list[PreparedEntry]:
    """Decide what each dataset entry becomes for this run; reads local files, writes nothing."""
    entries = profile.data.datasets
    out_name = _OutNames(run_dir / RUN_DATA)
    planned: list[Optional[PreparedEntry]] = [None] * len(entries)
    for i, entry in enumerate(entries):  # identity data first: ratios are relative to it
        if entry.role == "identity" and entry.hub is None:
            planned[i] = _plan_identity(profile, entry, out_name)
    identity_count = sum(p.used or 0 for p in planned if p is not None)
    for i, entry in enumerate(entries):
        if planned[i] is not None:
            continue
        wanted = max(1, round(entry.ratio * identity_count)) if entry.ratio is not None else entry.sample
        if entry.hub is not None:
            planned[i] = _plan_hub(profile, entry, wanted, identity_count)
        else:
            planned[i] = _plan_other(profile, entry, wanted, identity_count, out_name)
    return [p for p in planned if p is not None]


def entry_records(p: PreparedEntry) -> list[Any]:
    """The records a planned entry writes into the run: its source's records, sampled as planned."""
    source = Path(p.source)
    records, broken = [], False
    for item in read_records(source):
        if type(item) is not ReadError:
            records.append(item[1])
        else:
            broken = True
    if broken:
        raise SwiftkitError(f"{source} has read errors; run 'swiftkit validate {source}'.")
    if p.used is not None and p.used < len(records):
        keep = sample_indices(len(records), p.used, p.seed or 0)
        records = [records[i] for i in keep]
    return records
