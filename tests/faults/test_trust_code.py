"""Issue 20, row 1: no code from a profile. A folder reached through ``swift_args.local_repo_path`` (ms-swift's
DeepSeek-VL loader appends it to sys.path and imports from it) or ``custom_register_path`` (a plugin file) is
refused before any process starts, and, with that check bypassed, by the guard inside the real ms-swift child.
A control run that lists the folder in ``model.allow_code_from`` does import it, so the attack is real.
A last test greps the installed ms-swift for every ``sys.path`` mutation and fails on one nobody has looked at."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from conftest import invoke

from swiftkit.swift import render

BEACON = 'import os as _os\nwith open(_os.environ["EVIL_MARKER"], "a") as _f:\n    _f.write(__name__ + "\\n")\n'


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "MARKER"
    monkeypatch.setenv("EVIL_MARKER", str(path))  # inherited by swiftkit and every ms-swift process
    return path


def repo(tmp_path: Path) -> Path:
    """A folder as a hostile profile would name it: DeepSeek-VL's package, and a plugin file, both beacons."""
    folder = tmp_path / "repo"
    (folder / "deepseek_vl" / "models").mkdir(parents=True)
    (folder / "deepseek_vl" / "__init__.py").write_text(BEACON)
    (folder / "deepseek_vl" / "models" / "__init__.py").write_text(BEACON + "\n\nclass VLChatProcessor:\n    pass\n")
    (folder / "plugin.py").write_text(BEACON + "import helper_next_to_plugin  # noqa\n")
    (folder / "helper_next_to_plugin.py").write_text(BEACON)
    return folder


@pytest.mark.parametrize("flag, value", [("local_repo_path", ""), ("custom_register_path", "plugin.py")])
def test_a_code_folder_in_swift_args_is_refused_with_the_way_out(tmp_path: Path, marker: Path, flag: str, value: str):
    folder = repo(tmp_path)
    target = folder / value if value else folder
    r = invoke(
        "plan", "sft", "-p", "cpu-demo", "--set", "model.model_type=deepseek_vl", "--set", f"swift_args.{flag}={target}"
    )
    assert r.returncode == 1, r.stdout
    assert r.stderr.splitlines() == [
        "Error: the profile's swift_args do not fit the installed ms-swift:",
        f"  swift_args.{flag}: ms-swift imports Python from {target}; swiftkit refuses code from outside the Python "
        "installation unless its folder is listed in model.allow_code_from "
        f"(--set 'model.allow_code_from=[{folder}]') - do that only if you trust that code",
        "Fix them in the profile (or with --set) and try again.",
    ]
    allowed = invoke(
        "plan",
        "sft",
        "-p",
        "cpu-demo",
        "--set",
        f"model.allow_code_from=[{folder}]",
        "--set",
        f"swift_args.{flag}={target}",
    )
    assert allowed.returncode == 0, allowed.stderr
    assert f"code allowed from: {folder}" in allowed.stderr and f"SWIFTKIT_ALLOW_CODE_FROM={folder}" in allowed.stdout
    assert not marker.exists()


@pytest.mark.e2e
def test_the_guard_in_the_ms_swift_child_refuses_code_folders(tmp_path: Path, tiny_model: Path, marker: Path):
    """swiftkit's own environment and argv, the refusal in render bypassed: the flags appended to the command."""
    from e2e.conftest import tiny_profile

    from swiftkit.config import profiles
    from swiftkit.data.resolve import write_data
    from swiftkit.jobs import train
    from swiftkit.swift import runner
    from swiftkit.swift.version import installed_flavor

    folder = repo(tmp_path)
    lp = profiles.load(str(tiny_profile(tmp_path, tiny_model)))
    plan = train.plan_train(lp, installed_flavor())
    plan.run_dir.mkdir(parents=True)
    write_data(plan.run)
    attack = [*plan.command.argv, "--model_type", "deepseek_vl", "--local_repo_path", str(folder)]
    command = dataclasses.replace(plan.command, argv=attack)
    assert runner.run(command, log_path=plan.log) != 0
    log = plan.log.read_text()
    assert not marker.exists(), f"{marker.read_text()}\n{log[-3000:]}"
    assert f"swiftkit: refusing to import deepseek_vl from {folder}" in log, log[-3000:]

    # a plugin file through custom_register_path (ms-swift inserts its folder at sys.path[0], then executes it)
    plugin = [*plan.command.argv, "--custom_register_path", str(folder / "plugin.py")]
    assert runner.run(dataclasses.replace(plan.command, argv=plugin), log_path=tmp_path / "plugin.log") != 0
    log = (tmp_path / "plugin.log").read_text()
    assert not marker.exists(), f"{marker.read_text()}\n{log[-3000:]}"
    assert f"ms-swift external plugin {folder / 'plugin.py'}" in log, log[-3000:]

    # control: the profile allows the folder, the same child imports it
    allowed = profiles.load(str(tmp_path / "tiny.yaml"), [f"model.allow_code_from=[{folder}]"])
    env = render.launch_environment(allowed.profile)
    assert runner.run(dataclasses.replace(command, env=env), log_path=tmp_path / "control.log") != 0
    assert marker.exists() and "deepseek_vl.models" in marker.read_text()


# Every sys.path mutation in the installed ms-swift 4.6.0 (file, code) and what covers it. A new site fails the test
# below until someone reads it and adds it here with its cover.
LOCAL_REPO = "local_repo_path: refused in swift_args unless in model.allow_code_from; the child's import guard"
MODEL_DIR = "the model folder: the pre-flight (remote_code.shipped_code) and the child's import guard"
PLUGIN = "external_plugins owned, custom_register_path refused unless allowed; guard's import_external_file + roots"
SYS_PATH_SITES = {
    ("model/models/llava.py", "sys.path.append(local_repo_path)"): LOCAL_REPO,
    ("model/models/stepfun.py", "sys.path.append(local_repo_path)"): LOCAL_REPO,
    ("model/models/deepseek.py", "sys.path.append(local_repo_path)"): LOCAL_REPO,  # three loaders
    ("model/models/baai.py", "sys.path.append(model_dir)"): MODEL_DIR,
    ("model/models/baai.py", "sys.path.append(local_repo_path)"): LOCAL_REPO,
    ("model/models/yi.py", "sys.path.append(os.path.join(local_repo_path, 'VL'))"): LOCAL_REPO,
    ("model/models/mplug.py", "sys.path.append(local_repo_path)"): LOCAL_REPO,
    ("model/models/llama.py", "sys.path.append(self.local_repo_path)"): LOCAL_REPO,
    ("model/models/valley.py", "sys.path.append(local_repo_path)"): LOCAL_REPO,
    ("optimizers/muon.py", "sys.path.append(os.path.join(args.local_repo_path, 'examples'))"): LOCAL_REPO,
    ("utils/utils.py", "sys.path.insert(0, py_dir)"): PLUGIN,
}
MUTATION = re.compile(r"sys\.path\s*(\.(append|insert|extend)\(|\+=|=(?!=)|\[[^]]*\]\s*=)|site\.addsitedir\(")


def test_every_sys_path_mutation_in_ms_swift_is_covered():
    swift = pytest.importorskip("swift")
    root = Path(swift.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if MUTATION.search(line):
                found.add((path.relative_to(root).as_posix(), line.strip()))
    assert found == set(SYS_PATH_SITES), f"new: {found - set(SYS_PATH_SITES)}; gone: {set(SYS_PATH_SITES) - found}"
    # the flags those sites read are the ones swiftkit refuses or owns
    assert set(render.CODE_FOLDER_FLAGS) == {"local_repo_path", "custom_register_path"}
    assert "external_plugins" in render.OWNED
