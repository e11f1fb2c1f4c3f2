"""`swiftkit train --slurm`: the run planned and its data prepared here, then one sbatch job runs it.

The job behaves like a detached run: its manifest names the SLURM job, ``status``/``logs -f`` ask SLURM for its
state (:mod:`swiftkit.runs.state`), ``cancel`` runs scancel, and the run folder is an ordinary one.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from swiftkit import __version__
from swiftkit.config.profiles import LoadedProfile
from swiftkit.config.schema import Profile
from swiftkit.errors import SwiftkitError
from swiftkit.jobs.train import TrainPlan, plan_train, prepare_train
from swiftkit.layout import SBATCH_SCRIPT
from swiftkit.swift.sbatch import JobSpec, render_script
from swiftkit.swift.version import SwiftFlavor


@dataclass
class SlurmPlan:
    train: TrainPlan
    spec: JobSpec
    script: str  # the sbatch script's text

    @property
    def run_dir(self) -> Path:
        return self.train.run_dir

    @property
    def script_path(self) -> Path:
        return self.train.run_dir / SBATCH_SCRIPT


def job_profile(profile: Profile) -> Profile:
    """The profile as the job runs it: ``slurm.nodes`` nodes (launch.nnodes) of ``slurm.gpus_per_node`` ranks, so
    batch fitting, the torchrun environment and the estimates count every rank of the job."""
    if profile.launch.nnodes > 1:
        raise SwiftkitError(
            "launch.nnodes is for starting each node by hand; with --slurm set slurm.nodes instead "
            f"(--set launch.nnodes=1 --set slurm.nodes={profile.launch.nnodes})."
        )
    update: dict[str, Any] = {"launch": profile.launch.model_copy(update={"nnodes": profile.slurm.nodes})}
    asked = profile.slurm.gpus_per_node
    if profile.gpu is not None and asked:  # the first `asked` of the profile's cards, as the allocation numbers them
        update["gpu"] = profile.gpu.model_copy(update={"devices": list(range(asked))})
    return profile.model_copy(update=update)  # no re-validation: launch has no master_addr, SLURM gives it


def gpus_asked(profile: Profile) -> int:
    if profile.gpu is None:
        return 0
    asked = profile.slurm.gpus_per_node
    return len(profile.gpu.indices) if asked is None else asked


def _job_name(lp: LoadedProfile) -> str:
    return "swiftkit-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", lp.name).strip("-") or "run")


def _spec(lp: LoadedProfile, run_dir: Path) -> JobSpec:
    from swiftkit.swift.runner import swift_executable

    try:
        swift = swift_executable()
    except SwiftkitError:
        swift = "swift"  # a dry run without ms-swift installed here: the nodes' PATH decides
    return JobSpec(
        slurm=lp.profile.slurm,
        job_name=_job_name(lp),
        run_dir=run_dir.absolute(),
        workdir=Path.cwd(),
        swift=swift,
        gpus_per_node=gpus_asked(lp.profile),
        master_port=lp.profile.launch.master_port,
        version=__version__,
    )


def _job_lp(lp: LoadedProfile) -> LoadedProfile:
    return replace(lp, profile=job_profile(lp.profile))


def plan_slurm(
    lp: LoadedProfile, flavor: SwiftFlavor, now: Optional[datetime] = None, resume: bool = False
) -> SlurmPlan:
    """The job script, decided without checking or writing anything (--slurm --dry-run)."""
    train = plan_train(_job_lp(lp), flavor, now, resume, slurm=True)
    spec = _spec(lp, train.run_dir)
    return SlurmPlan(train, spec, render_script(train.command, spec))


# file systems that one machine alone sees: a multi-node job cannot share a run folder on them
LOCAL_FS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "ramfs", "f2fs", "vfat", "zfs"})


def filesystem_type(path: Path) -> Optional[str]:
    """The type of the file system holding ``path`` (its nearest existing folder), from /proc/mounts."""
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    best, fstype = "", None
    target = os.path.realpath(probe)
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fstype = point, parts[2]
    return fstype


def preflight(lp: LoadedProfile) -> None:
    """Refuse before anything is prepared: no sbatch here, a partition SLURM does not know, several nodes on a
    run folder only this machine sees."""
    from swiftkit.swift import slurm

    slurm.require("sbatch")
    s = lp.profile.slurm
    if s.partition is not None:
        known = slurm.partitions()
        if s.partition not in known:
            raise SwiftkitError(
                f"slurm.partition {s.partition!r} is not a partition of this cluster (sinfo lists: "
                f"{', '.join(known) or 'none'}); set slurm.partition to one of them, or leave it out for the default."
            )
    if s.nodes > 1 and not s.shared_output:
        fstype = filesystem_type(Path(lp.profile.output_dir))
        if fstype in LOCAL_FS:
            raise SwiftkitError(
                f"slurm.nodes is {s.nodes} but output_dir {lp.profile.output_dir} is on a local file system "
                f"({fstype}): the other nodes would not see the run folder. Point output_dir at storage every node "
                "mounts at the same path (e.g. --set output_dir=/shared/$USER/runs on NFS or Lustre); if it is "
                "shared already, say so with --set slurm.shared_output=true."
            )


def prepare_slurm(
    lp: LoadedProfile,
    flavor: SwiftFlavor,
    now: Optional[datetime] = None,
    resume: bool = False,
    on_stage: Optional[Callable[[str], None]] = None,
) -> SlurmPlan:
    """Checks before submission, then the data checked and prepared here, once, as for a local run."""
    preflight(lp)
    train = prepare_train(_job_lp(lp), flavor, now=now, resume=resume, on_stage=on_stage, slurm=True)
    spec = _spec(lp, train.run_dir)
    return SlurmPlan(train, spec, render_script(train.command, spec))


@dataclass
class Submitted:
    job_id: str
    run_dir: Path
    script: Path
    log: Path


def submit(lp: LoadedProfile, plan: SlurmPlan) -> Submitted:
    """Write the run folder (data, manifest, script) under the output folder's lock, then sbatch it and record the
    job id in the manifest."""
    from swiftkit.data.resolve import write_data
    from swiftkit.fsutil import atomic_write_text
    from swiftkit.jobs.train import _FREE, check_disk, refuse_running
    from swiftkit.runs import manifest
    from swiftkit.runs.lock import RunLock
    from swiftkit.swift import slurm

    train = plan.train
    problem = check_disk(train.run)
    if problem:
        raise SwiftkitError(problem)
    with RunLock(train.output_root).acquire(run_dir=str(train.run_dir), started=manifest.now_iso()):
        refuse_running(train.output_root)
        try:
            train.run_dir.mkdir(parents=True, exist_ok=False)
            write_data(train.run)
            record = manifest.build(train.run, train.command)
            record.update(slurm=lp.profile.slurm.model_dump(mode="json"), sbatch_script=str(plan.script_path))
            manifest.write(train.run_dir, record)
            atomic_write_text(plan.script_path, plan.script)
        except OSError as exc:
            shutil.rmtree(train.run_dir, ignore_errors=True)
            raise SwiftkitError(f"could not write the run folder {train.run_dir}: {exc.strerror}. {_FREE}") from None
        try:
            job = slurm.submit(plan.script_path)
        except SwiftkitError as exc:
            manifest.finish(train.run_dir, record, None, "failed", reason=str(exc))
            raise
        manifest.update(train.run_dir, record, slurm_job=job, submitted=manifest.now_iso())
    return Submitted(job, train.run_dir, plan.script_path, train.log)


def cancel(run_dir: Path, wait: float = 120.0, poll: float = 1.0) -> str:
    """scancel the run's job and wait until SLURM has let it go; returns the job id."""
    from swiftkit.runs import manifest
    from swiftkit.runs.state import RUNNING
    from swiftkit.swift import slurm

    record = manifest.read(run_dir) or {}
    job = record.get("slurm_job")
    if not job:
        raise SwiftkitError(
            f"{run_dir} is not a SLURM run (its manifest names no job); stop a local run with Ctrl-C in its "
            "terminal or 'kill -INT -- -PID' (see 'swiftkit status')."
        )
    if record.get("status") != RUNNING:
        raise SwiftkitError(f"{run_dir.name} has already ended ({record.get('status')}); nothing to cancel.")
    manifest.update(run_dir, record, cancel_requested=manifest.now_iso())
    slurm.cancel(str(job))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        found = slurm.job_state(str(job))
        if found is not None and not found.active:
            break
        time.sleep(poll)
    return str(job)
