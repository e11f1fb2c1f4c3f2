"""swiftkit as a user gets it: the built wheel in a fresh virtual environment, run from an empty folder.

The venv sees the heavy dependencies (torch, ms-swift) of the test environment through a path entry, but not the
checkout: `import swiftkit` must come from the wheel, so a file missing from the wheel fails here.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(ROOT)],
        check=True,
        timeout=600,
    )
    wheel = next((work / "dist").glob("swiftkit-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the test environment's packages, after the venv's own: dependencies only (its editable swiftkit hook is a
    # .pth file there, which Python does not run for a path added this way)
    (Path(site) / "deps-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300)
    return venv


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def swiftkit(venv: Path, cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SWIFTKIT_PROFILE")}
    return subprocess.run(
        [str(venv / "bin" / "swiftkit"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_the_wheel_works_from_an_empty_folder(installed: Path, tmp_path: Path, tiny_model: Path):
    here = tmp_path / "empty"
    here.mkdir()
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import swiftkit; print(swiftkit.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=here,
    ).stdout
    assert str(installed) in where and str(ROOT) not in where  # the wheel, not the checkout

    listed = swiftkit(installed, here, "profiles", "list")
    assert listed.returncode == 0, listed.stderr
    names = {line.split()[0] for line in listed.stdout.splitlines()}
    assert {"4090d", "4090d-fast", "h100", "cpu-demo"} <= names

    planned = swiftkit(installed, here, "plan", "sft", "-p", "4090d")
    assert planned.returncode == 0, planned.stderr
    argv = shlex.split(planned.stdout.strip())
    guard = next(a.split("=", 1)[1] for a in argv if a.startswith("PYTHONPATH="))  # the remote-code guard
    assert (Path(guard) / "sitecustomize.py").is_file() and str(installed) in str(Path(guard).resolve())
    data = Path(argv[argv.index("--dataset") + 1])  # the run's own copy, filled from the profile's identity
    assert data.parent.name == "data" and data.parent.parent.name.startswith("v0-")
    source = planned.stderr.split("from ", 1)[1].split(":", 1)[0]  # '# writes RUN/data/… from TEMPLATE: …'
    assert Path(source).is_file() and str(installed) in source

    copied = swiftkit(installed, here, "profiles", "cp", "4090d-fast", "mine.yaml")
    assert copied.returncode == 0, copied.stderr
    assert "site-packages" not in (here / "mine.yaml").read_text()
    assert swiftkit(installed, here, "plan", "sft", "-p", "mine.yaml").returncode == 0

    project = here / "bot"
    made = swiftkit(installed, here, "init", "bot", "--name", "Zephyr", "--author", "Orbit Works", "--name-zh", "西风")
    assert made.returncode == 0, made.stderr
    assert "warning: identity.name_zh '西风' is a common Chinese word" in made.stderr
    assert (project / "swiftkit.yaml").stat().st_mode & 0o777 == 0o666 & ~current_umask()  # not 0600
    checked = swiftkit(installed, project, "validate")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    tiny = [
        "--set", f"model.model={tiny_model}",
        "--set", "train.num_train_epochs=1",
        "--set", "train.per_device_train_batch_size=8",
        "--set", "train.max_length=256",
        "--set", "infer.max_new_tokens=8",
        "--set", "train.learning_rate=0.02",
    ]  # fmt: skip
    # the random model's own answers are blank lines, so its self-replay mix is left out here
    no_replay = ["--set", "data.datasets=[{path: identity.template.json}]"]
    # train, then check: the random model cannot say its name, so the verdict is FAIL and the exit code 1
    trained = swiftkit(installed, project, "train", "--check", *tiny, *no_replay)
    assert trained.returncode == 1, trained.stdout[-2000:] + trained.stderr[-3000:]
    assert "make " not in trained.stdout  # no Makefile here: only swiftkit commands are suggested
    assert "  swiftkit infer --prompt 'Who are you?'" in trained.stdout  # ./swiftkit.yaml: no --profile
    assert "> check: swiftkit eval of checkpoint-" in trained.stderr
    assert "> eval: adapter" in trained.stderr
    assert "FAIL identity pass rate   0.0%  (target >= 90%)" in trained.stdout
    assert "=> FAIL" in trained.stdout
    run_line = next(ln for ln in trained.stdout.splitlines() if ln.startswith("Run folder:"))
    checkpoint_line = next(ln for ln in trained.stdout.splitlines() if ln.startswith("Checkpoint:"))
    assert checkpoint_line.split()[1].startswith(run_line.split()[2] + "/")  # written the same (relative) way
    report = next((project / "output").glob("v0-*/checkpoint-*/swiftkit-eval.md")).read_text(encoding="utf-8")
    assert "## Every answer" in report
    for command in ("status", "logs"):  # ./swiftkit.yaml is their default too
        shown = swiftkit(installed, project, command)
        assert shown.returncode == 0 and "ok" in shown.stdout, shown.stderr
    manifest = json.loads(next((project / "output").glob("v0-*/swiftkit-manifest.json")).read_text())
    identity_file = project / manifest["datasets"][0]["write_to"]  # relative to where train ran
    text = identity_file.read_text(encoding="utf-8")
    assert "Zephyr" in text and "Orbit Works" in text and "Swift-Robot" not in text

    answered = swiftkit(installed, project, "infer", *tiny, "--prompt", "Who are you?")
    assert answered.returncode == 0, answered.stderr[-3000:]
    assert "Q: Who are you?\nA: " in answered.stdout
    assert "> infer: ms-swift loads the model and checkpoint-" in answered.stderr
    assert "> infer: 1/1 answers" in answered.stderr
    exported = swiftkit(installed, project, "export", *tiny)
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "Merged model:" in exported.stdout
    assert "ExportArguments(" not in exported.stderr and "trust_remote_code" not in exported.stderr  # in its log
    assert "> export: ms-swift loads the base model" in exported.stderr
    assert not list((project / "output").glob("v0-*/.checkpoint-*-merged.lock"))  # no lock left behind
