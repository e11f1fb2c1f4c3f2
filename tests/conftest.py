from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(autouse=True)
def own_caches(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own swiftkit and ModelScope caches: a stale cache can never make a test pass."""
    root = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("SWIFTKIT_CACHE", str(root / "swiftkit"))
    monkeypatch.setenv("MODELSCOPE_CACHE", str(root / "modelscope"))
    return root


@pytest.fixture
def repo_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)
    return ROOT


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600):
    """Run the real `swiftkit` console entry in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "swiftkit", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def invoke(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`swiftkit ARGS` in this process (click's CliRunner), answered like :func:`run_cli`: exit code, stdout and
    stderr apart. For the messages users read, where no real process matters; an unexpected exception is raised
    with its traceback instead of becoming an exit code."""
    from click.testing import CliRunner

    from swiftkit.cli import cli

    here = os.getcwd()
    os.chdir(cwd or ROOT)
    try:
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False, prog_name="swiftkit")
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["swiftkit", *args], result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory):
    """A real one-node SLURM cluster (munged + slurmctld + slurmd) for the session; SLURM_CONF points at it.
    Skipped only where SLURM is not installed and this is not CI (CI installs it: .ci/run)."""
    import slurm_cluster

    absent = slurm_cluster.missing()
    if absent:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have SLURM installed (missing: {', '.join(absent)}); .ci/run installs it")
        pytest.skip(f"SLURM is not installed ({', '.join(absent)}); apt-get install slurm-wlm munge")
    cluster = slurm_cluster.start(tmp_path_factory.mktemp("slurm"))
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = cluster.env["SLURM_CONF"]
    try:
        yield cluster
    finally:
        cluster.stop()
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before


@pytest.fixture(scope="session")
def slurm_two_nodes(tmp_path_factory: pytest.TempPathFactory):
    """A real two-node SLURM cluster: two slurmd, each in a network namespace of its own on a bridge (root only),
    sharing this machine's file system. Its SLURM_CONF is in ``.env`` (pass it to the commands)."""
    import slurm_cluster

    absent = slurm_cluster.missing()
    if absent or os.geteuid() != 0:
        why = f"SLURM is not installed ({', '.join(absent)})" if absent else "network namespaces need root"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the two-node SLURM test: {why}")
        pytest.skip(why)
    cluster = slurm_cluster.start(tmp_path_factory.mktemp("slurm2"), nodes=2)
    try:
        yield cluster
    finally:
        cluster.stop()
