"""The data a run trains on: templates filled, local samples drawn, ratios resolved — into the run's folder.

:func:`plan_data` decides everything without writing (for ``plan`` and ``--dry-run``);
:func:`write_data` writes the files it planned, atomically. Each entry records its source, hash, counts and
seed for the run manifest, so a run can be reproduced.
"""

from __future__ import annotations

import hashlib
import json
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
from swiftkit.fsutil import atomic_write_text, file_problem, open_regular, shown_path


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


def plan_data(profile: Profile, run_dir: Path) -> list[PreparedEntry]:
    """Decide what each dataset entry becomes for this run; reads local files, writes nothing."""
    entries = profile.data.datasets
    seed = profile.train.data_seed
    identity_count = 0
    planned: list[Optional[PreparedEntry]] = [None] * len(entries)
    data_dir = run_dir / "data"
    used_names: set[str] = set()

    def out_name(path: Path) -> Path:
        stem = path.name.replace(".template.", ".").rsplit(".", 1)[0]
        candidate, n = f"{stem}.jsonl", 1
        while candidate in used_names:
            n += 1
            candidate = f"{stem}-{n}.jsonl"
        used_names.add(candidate)
        return data_dir / candidate

    # identity data first: ratios are relative to it
    for i, entry in enumerate(entries):
        if entry.role != "identity" or entry.hub is not None:
            continue
        path = _local(entry)
        total = count_records(path)
        p = PreparedEntry(
            source=str(path), role="identity", argv_value=shown_path(str(path)), records=total, sha256=file_sha256(path)
        )
        templated = has_placeholders(path)
        if templated and profile.identity is None:
            raise SwiftkitError(
                f"{path} has {{{{NAME}}}}/{{{{AUTHOR}}}} placeholders but the profile has no identity: section; "
                "add identity: {name: ..., author: ...} or render it with 'swiftkit identity render'."
            )
        wanted = entry.sample
        if templated or (wanted is not None and wanted < total):
            p.write_to = str(out_name(path))
            p.argv_value = shown_path(p.write_to)
        if wanted is not None:
            p.used, p.seed = min(wanted, total), seed
            if wanted > total:
                p.note = f"asked for {wanted} records, the file has {total}: using all {total} (no repeats)"
        else:
            p.used = total
        if templated:
            p.note = (p.note + "; " if p.note else "") + "placeholders filled from the profile's identity"
        identity_count += p.used or 0
        planned[i] = p

    for i, entry in enumerate(entries):
        if planned[i] is not None:
            continue
        wanted = entry.sample
        if entry.ratio is not None:
            wanted = max(1, round(entry.ratio * identity_count))
        if entry.hub is not None:
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
            planned[i] = p
            continue
        if entry.replay is not None:
            path = replay_path(profile, Path(entry.replay))
            if not path.is_file():
                planned[i] = PreparedEntry(
                    source=str(path),
                    role=entry.role,
                    argv_value=shown_path(str(path)),
                    used=wanted,
                    note=f"self-replay of {entry.replay}: made by 'swiftkit replay' before training",
                    replay_prompts=entry.replay,
                )
                continue
        else:
            path = _local(entry)
        total = count_records(path)
        p = PreparedEntry(
            source=str(path),
            role=entry.role,
            argv_value=shown_path(str(path)),
            records=total,
            sha256=file_sha256(path),
            used=total,
            replay_prompts=entry.replay,
        )
        if wanted is not None:
            p.used, p.seed = min(wanted, total), seed
            if wanted < total:
                p.write_to = str(out_name(path))
                p.argv_value = shown_path(p.write_to)
            elif wanted > total:
                p.note = f"asked for {wanted} records, the file has {total}: using all {total} (no repeats)"
            if entry.ratio is not None:
                p.note = (p.note + "; " if p.note else "") + f"ratio {entry.ratio} x {identity_count} identity records"
        planned[i] = p
    return [p for p in planned if p is not None]


def write_data(profile: Profile, planned: list[PreparedEntry]) -> None:
    """Write the files :func:`plan_data` planned (filled templates, samples), each atomically, as JSONL."""
    for p in planned:
        if p.write_to is None:
            continue
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
        if profile.identity is not None and p.role == "identity":
            records = [ident.fill_record(r, profile.identity) for r in records]
        target = Path(p.write_to)
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        atomic_write_text(target, text)
        p.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
