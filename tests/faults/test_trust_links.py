"""Issue 20, row 2: nothing swiftkit writes follows a link. Someone who can write into a shared output or run folder
plants a symbolic link where swiftkit writes (the run lock, an export lock, the deploy log, the training log, the
manifest, a prepared data file, the merge folder) aimed at a file of the user's: swiftkit refuses, naming the
link, and the file it points at keeps its content and mode."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import resolved

from swiftkit.errors import SwiftkitError
from swiftkit.layout import LOCK_NAME, MANIFEST, export_lock_path
from swiftkit.swift.render import Command, Endpoint

SECRET = b"the user's own file: must survive\n"


def victim(tmp_path: Path) -> Path:
    path = tmp_path / "home" / "precious.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(SECRET)
    path.chmod(0o644)
    return path


def plant(link: Path, target: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


def run_lock(link: Path) -> None:
    from swiftkit.runs.lock import RunLock

    RunLock(link.parent).acquire(run_dir="x").release()


def export_lock(link: Path) -> None:
    from swiftkit.runs.lock import exclusive

    with exclusive(link, checkpoint="x"):
        pass


def deploy_log(link: Path) -> None:
    from swiftkit.serve.plan import DeployPlan
    from swiftkit.serve.server import Server

    plan = DeployPlan(Command([sys.executable, "-c", "pass"]), Endpoint("127.0.0.1", 8000, "m"), None, link)
    server = Server(plan)
    try:
        server.start()
    finally:
        server.stop()


def train_log(link: Path) -> None:
    from swiftkit.swift import runner

    proc = runner.start(Command([sys.executable, "-c", "print('written by the child')"]), log_path=link)
    proc.wait()


def manifest(link: Path) -> None:
    from swiftkit.runs import manifest as m

    m.write(link.parent, {"status": "running"})


CK = "out/v0-20260101-000000/checkpoint-4"
WRITERS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "run lock": (f"out/{LOCK_NAME}", run_lock),
    "export lock": (str(export_lock_path(Path(CK))), export_lock),
    "deploy log": ("out/v0-20260101-000000/swiftkit-deploy-8000.log", deploy_log),
    "training log": ("out/v0-20260101-000000/swiftkit-train.log", train_log),
    "manifest": (f"out/v0-20260101-000000/{MANIFEST}", manifest),
}


@pytest.mark.parametrize("what", list(WRITERS))
def test_a_planted_link_is_refused_and_its_target_survives(tmp_path: Path, what: str):
    target = victim(tmp_path)
    rel, write = WRITERS[what]
    link = plant(tmp_path / rel, target)
    with pytest.raises(SwiftkitError) as err:
        write(link)
    assert f"{link} is a symbolic link (to {target}); swiftkit never writes through a link" in str(err.value)
    assert target.read_bytes() == SECRET
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert link.is_symlink()


def test_a_planted_link_at_a_prepared_data_file_is_refused(tmp_path: Path):
    from swiftkit.config import profiles
    from swiftkit.data.resolve import write_data
    from swiftkit.jobs import train
    from swiftkit.swift.version import installed_flavor

    data = tmp_path / "identity.jsonl"
    data.write_text('{"query": "Who are you?", "response": "I am {{NAME}}."}\n')  # templated: written to RUN/data
    lp = profiles.load(
        "cpu-demo",
        [f"output_dir={tmp_path / 'out'}", f"data.datasets=[{{path: {data}, kind: identity}}]"],
    )
    run = train.plan_train(lp, installed_flavor()).run
    planned = run.data
    target = victim(tmp_path)
    link = plant(Path(next(p.write_to for p in planned if p.write_to)), target)
    with pytest.raises(SwiftkitError, match="is a symbolic link"):
        write_data(run)
    assert target.read_bytes() == SECRET and link.is_symlink()


def test_a_planted_link_at_the_merge_folder_is_refused(tmp_path: Path):
    """ms-swift would write the merged model through a link at ``.checkpoint-N-merged.partial``."""
    from helpers import safetensors_bytes

    from swiftkit.config import profiles
    from swiftkit.jobs import export
    from swiftkit.swift.version import installed_flavor

    ck = tmp_path / CK
    ck.mkdir(parents=True)
    (ck / "adapter_config.json").write_text("{}")
    (ck / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    elsewhere = tmp_path / "home" / "models"
    elsewhere.mkdir(parents=True)
    link = plant(ck.with_name(f".{ck.name}-merged.partial"), elsewhere)
    lp = profiles.load("cpu-demo", [f"output_dir={tmp_path / 'out'}"])
    with pytest.raises(SwiftkitError, match=f"{link} is a symbolic link"):
        export.run_export(resolved(lp, ck), installed_flavor())
    assert link.is_symlink() and not os.listdir(elsewhere)
