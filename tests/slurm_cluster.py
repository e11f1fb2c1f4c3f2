"""A real SLURM cluster on this machine for the tests: munged, slurmctld and one slurmd (Debian's slurm-wlm and
munge), configured in a temporary folder on free ports, so it never touches a system SLURM or another test run.

``start(folder)`` returns a :class:`Cluster` whose ``env`` points SLURM's client commands at it (``SLURM_CONF``);
``stop()`` cancels its jobs and ends the three daemons it started, by their pids."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")
PARTITION = "debug"


def missing() -> list[str]:
    """SLURM and munge programs this machine lacks (install: apt-get install slurm-wlm munge)."""
    return [name for name in (*DAEMONS, *CLIENTS) if shutil.which(name) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CONF = """\
ClusterName=swiftkit-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder}/munge.sock
SlurmUser={user}
SlurmdUser=root
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
# a job over its time limit is signalled at once and killed 5 s later
OverTimeLimit=0
KillWait=5
MinJobAge=3600
InactiveLimit=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName={partition} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class Cluster:
    folder: Path
    env: dict[str, str]
    pids: dict[str, int] = field(default_factory=dict)

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env={**os.environ, **self.env}, capture_output=True, text=True, check=check)

    def queued(self) -> list[str]:
        """Job ids in squeue."""
        return self.run("squeue", "--noheader", "--format=%i").stdout.split()

    def stop(self) -> None:
        self.run("scancel", "--user", str(os.getuid()), check=False)
        for name in reversed(DAEMONS):
            pid = self.pids.get(name)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                time.sleep(0.2)


def _pid(path: Path, deadline: float) -> int:
    while time.monotonic() < deadline:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            time.sleep(0.2)
    raise RuntimeError(f"{path} did not appear")


def start(folder: Path) -> Cluster:
    """Start munged, slurmctld and slurmd for a one-node cluster ('localhost', partition 'debug')."""
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool"):
        (folder / sub).mkdir(exist_ok=True)
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    conf = folder / "slurm.conf"
    conf.write_text(
        CONF.format(
            folder=folder,
            ctld_port=_free_port(),
            slurmd_port=_free_port(),
            user=os.environ.get("USER") or "root",
            cpus=os.cpu_count() or 1,
            partition=PARTITION,
        )
    )
    cluster = Cluster(folder, {"SLURM_CONF": str(conf)})
    deadline = time.monotonic() + 60
    subprocess.run(
        [
            "munged",
            f"--key-file={key}",
            f"--socket={folder}/munge.sock",
            f"--pid-file={folder}/munged.pid",
            f"--log-file={folder}/munged.log",
            f"--seed-file={folder}/munge.seed",
            "--force",
        ],
        check=True,
    )
    cluster.pids["munged"] = _pid(folder / "munged.pid", deadline)
    try:
        cluster.run("slurmctld", "-f", str(conf))
        cluster.pids["slurmctld"] = _pid(folder / "slurmctld.pid", deadline)
        cluster.run("slurmd", "-f", str(conf), "-N", "localhost")
        cluster.pids["slurmd"] = _pid(folder / "slurmd.pid", deadline)
        while time.monotonic() < deadline:
            state = cluster.run("sinfo", "--noheader", "--format=%t", check=False).stdout.strip()
            if state in ("idle", "mix", "alloc"):
                return cluster
            time.sleep(0.5)
        raise RuntimeError(f"the test SLURM node did not become idle: {state!r}; see {folder}/slurmctld.log")
    except BaseException:
        cluster.stop()
        raise
