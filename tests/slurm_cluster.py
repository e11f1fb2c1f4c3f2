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
SlurmctldHost=localhost({ctld_addr})
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder}/munge.sock
SlurmUser={user}
SlurmdUser=root
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool-%n
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd-%n.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd-%n.log
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
{nodes}
PartitionName={partition} Nodes={names} Default=YES MaxTime=INFINITE State=UP
"""
NODE = "NodeName={name} NodeAddr={addr} CPUs={cpus} RealMemory=1000 State=UNKNOWN"


@dataclass
class Cluster:
    folder: Path
    env: dict[str, str]
    pids: dict[str, int] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)  # network namespaces made for the nodes
    bridge: str = ""

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env={**os.environ, **self.env}, capture_output=True, text=True, check=check)

    def queued(self) -> list[str]:
        """Job ids in squeue."""
        return self.run("squeue", "--noheader", "--format=%i").stdout.split()

    def stop(self) -> None:
        if "slurmctld" in self.pids:
            self.run("scancel", "--user", str(os.getuid()), check=False)
        for name in sorted(self.pids, key=lambda n: n.startswith("slurmd"), reverse=True):  # nodes, ctld, munge
            pid = self.pids[name]
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                time.sleep(0.2)
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], check=False)
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        if self.bridge:
            subprocess.run(["ip", "link", "del", self.bridge], check=False)


def _pid(path: Path, deadline: float) -> int:
    while time.monotonic() < deadline:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            time.sleep(0.2)
    raise RuntimeError(f"{path} did not appear")


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


def _network(cluster: Cluster, nodes: int) -> tuple[str, list[str], list[str]]:
    """Nodes 'node1'..'nodeN', each in a network namespace of its own on a bridge to this machine (the
    controller's address), with a hosts file naming every node, and this machine's host name as the node's own
    address (gloo binds to what the host name resolves to)."""
    tag = os.getpid() % 200 + 20
    subnet = f"10.{tag}.77"
    cluster.bridge = f"skbr{tag}"
    _ip("link", "add", cluster.bridge, "type", "bridge")
    _ip("addr", "add", f"{subnet}.1/24", "dev", cluster.bridge)
    _ip("link", "set", cluster.bridge, "up")
    names = [f"node{i + 1}" for i in range(nodes)]
    addrs = [f"{subnet}.{i + 2}" for i in range(nodes)]
    for i, (name, addr) in enumerate(zip(names, addrs, strict=True)):
        ns, veth = f"sk{tag}{name}", f"skv{tag}n{i}"
        cluster.namespaces.append(ns)
        _ip("netns", "add", ns)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth-sk", "netns", ns)
        _ip("link", "set", veth, "master", cluster.bridge)
        _ip("link", "set", veth, "up")
        for argv in (
            ["addr", "add", f"{addr}/24", "dev", "eth-sk"],
            ["link", "set", "eth-sk", "up"],
            ["link", "set", "lo", "up"],
        ):
            _ip("netns", "exec", ns, "ip", *argv)
        hosts = Path(f"/etc/netns/{ns}/hosts")  # mounted over /etc/hosts for the node's slurmd
        hosts.parent.mkdir(parents=True, exist_ok=True)
        lines = ["127.0.0.1 localhost", f"{addr} {socket.gethostname()}"] + [
            f"{a} {n}" for n, a in zip(names, addrs, strict=True)
        ]
        hosts.write_text("\n".join(lines) + "\n")
    return f"{subnet}.1", names, [f"{n}:{a}" for n, a in zip(names, addrs, strict=True)]


def start(folder: Path, nodes: int = 1) -> Cluster:
    """Start munged, slurmctld and slurmd: one node ('localhost'), or ``nodes`` nodes ('node1'...) each in a
    network namespace of its own (root only), all in partition 'debug'."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "state").mkdir(exist_ok=True)
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    conf = folder / "slurm.conf"
    cluster = Cluster(folder, {"SLURM_CONF": str(conf)})
    cpus = os.cpu_count() or 1
    deadline = time.monotonic() + 90
    try:
        if nodes == 1:
            ctld, names, lines = (
                "127.0.0.1",
                ["localhost"],
                [NODE.format(name="localhost", addr="127.0.0.1", cpus=cpus)],
            )
        else:
            ctld, names, pairs = _network(cluster, nodes)
            lines = [NODE.format(name=p.split(":")[0], addr=p.split(":")[1], cpus=cpus) for p in pairs]
        conf.write_text(
            CONF.format(
                folder=folder,
                ctld_addr=ctld,
                ctld_port=_free_port(),
                slurmd_port=_free_port(),
                user=os.environ.get("USER") or "root",
                nodes="\n".join(lines),
                names=",".join(names),
                partition=PARTITION,
            )
        )
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
        cluster.run("slurmctld", "-f", str(conf))
        cluster.pids["slurmctld"] = _pid(folder / "slurmctld.pid", deadline)
        for i, name in enumerate(names):
            (folder / f"spool-{name}").mkdir(exist_ok=True)
            slurmd = ["slurmd", "-f", str(conf), "-N", name]
            if nodes > 1:  # its network namespace and hosts file (not `ip netns exec`: it hides /sys/fs/cgroup)
                ns = cluster.namespaces[i]
                inner = f"mount --bind /etc/netns/{ns}/hosts /etc/hosts && exec {' '.join(slurmd)}"
                slurmd = ["nsenter", f"--net=/run/netns/{ns}", "unshare", "--mount", "--propagation", "private"]
                slurmd += ["sh", "-c", inner]
            cluster.run(*slurmd)
            cluster.pids[f"slurmd-{name}"] = _pid(folder / f"slurmd-{name}.pid", deadline)
        state = ""
        while time.monotonic() < deadline:
            state = cluster.run("sinfo", "--noheader", "--format=%t %D", check=False).stdout.strip()
            if state in (f"idle {nodes}", f"mix {nodes}", f"alloc {nodes}"):
                return cluster
            time.sleep(0.5)
        raise RuntimeError(f"the test SLURM nodes did not become idle: {state!r}; see {folder}/slurmctld.log")
    except BaseException:
        cluster.stop()
        raise
