"""Training survives its terminal, on the real ms-swift: SIGKILL of swiftkit, a closed terminal (SIGHUP from a
real pseudo-terminal's hang-up), and `train --detach`. Each time training completes, `status` says so and
`checkpoints latest` is the final step; `logs -f` follows the run to its end."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import run_cli

from swiftkit.runs import checkpoints
from swiftkit.runs.lock import alive

pytestmark = pytest.mark.e2e
EPOCHS = 2


def profile(tmp_path: Path, tiny_model: Path, epochs: int = EPOCHS) -> Path:
    from e2e.conftest import tiny_profile

    return tiny_profile(tmp_path, tiny_model, num_train_epochs=epochs, save_steps=4)


def final_step(epochs: int = EPOCHS) -> int:
    from e2e.conftest import RECORDS, steps

    return steps(RECORDS, 8, epochs)


def wait_until_training(out: Path, seconds: float = 240) -> Path:
    """The run folder once ms-swift has logged two steps."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runs = sorted(out.glob("v*/logging.jsonl")) if out.exists() else []
        if runs and len(runs[-1].read_text().splitlines()) >= 2:
            return runs[-1].parent
        time.sleep(0.5)
    pytest.fail("training did not start in time")


def status(profile: Path) -> list[dict]:
    result = run_cli("status", "--profile", str(profile), "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def follow_to_the_end(profile: Path) -> subprocess.CompletedProcess[str]:
    followed = run_cli("logs", "-f", "--profile", str(profile), timeout=400)
    assert followed.returncode == 0, followed.stdout[-2000:] + followed.stderr[-2000:]
    return followed


def assert_completed(profile: Path, out: Path, run: Path, epochs: int = EPOCHS) -> None:
    [state] = status(profile)
    assert (state["status"], state["steps"], state["max_steps"]) == ("ok", final_step(epochs), final_step(epochs))
    assert state["pid"] is None
    latest = run_cli("checkpoints", "latest", "--profile", str(profile), timeout=120)
    assert latest.stdout.strip() == str(run / f"checkpoint-{final_step(epochs)}"), latest.stderr
    report = json.loads(run_cli("report", "--profile", str(profile), "--json", timeout=120).stdout)
    assert report["status"] == "ok" and report["checkpoint"] == latest.stdout.strip()
    record = json.loads((run / "swiftkit-manifest.json").read_text())
    assert record["status"] == "ok" and record["last_checkpoint"] == latest.stdout.strip()


def test_sigkill_of_swiftkit(tmp_path: Path, tiny_model: Path):
    p = profile(tmp_path, tiny_model)
    out = tmp_path / "out"
    swiftkit = subprocess.Popen(  # its output is a pipe, as in CI or `| tee`: the reader dies with it
        [sys.executable, "-m", "swiftkit", "train", "--profile", str(p)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    run = wait_until_training(out)
    swiftkit.kill()
    swiftkit.wait()
    [state] = status(p)
    assert state["status"] == "running" and state["pid"] != swiftkit.pid and alive(state["pid"])
    refused = run_cli("train", "--profile", str(p), timeout=120)  # the lock names the live ms-swift only
    assert refused.returncode == 1
    assert f"(ms-swift pid {state['pid']}," in refused.stderr and f"pid {swiftkit.pid}" not in refused.stderr
    followed = follow_to_the_end(p)
    assert f"Steps:        {final_step()}/{final_step()}" in followed.stdout
    assert_completed(p, out, run)


class Terminal:
    """A pseudo-terminal whose output is drained; closing it hangs it up (SIGHUP), as a dropped SSH session does."""

    def __init__(self, argv: list[str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: swiftkit, session leader of the terminal
            signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as in a login shell, even under nohup
            os.execv(argv[0], argv)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while not self.stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    os.read(self.fd, 65536)
                except OSError:
                    return

    def hang_up(self) -> int:
        self.stop.set()
        self.thread.join()
        os.close(self.fd)
        _, status = os.waitpid(self.pid, 0)
        return os.WTERMSIG(status) if os.WIFSIGNALED(status) else -os.WEXITSTATUS(status)


def test_closed_terminal_sighup(tmp_path: Path, tiny_model: Path):
    p = profile(tmp_path, tiny_model)
    out = tmp_path / "out"
    terminal = Terminal([sys.executable, "-m", "swiftkit", "train", "--profile", str(p)])
    run = wait_until_training(out)
    assert terminal.hang_up() == signal.SIGHUP  # swiftkit died of the hang-up ...
    [state] = status(p)
    assert state["status"] == "running" and alive(state["pid"])  # ... ms-swift did not
    follow_to_the_end(p)
    assert_completed(p, out, run)


def test_detach(tmp_path: Path, tiny_model: Path):
    p = profile(tmp_path, tiny_model, epochs=1)
    started = time.monotonic()
    result = run_cli("train", "--profile", str(p), "--detach", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Training in the background: ms-swift pid" in result.stdout
    assert f"swiftkit logs -f --profile {p}" in result.stdout and f"swiftkit status --profile {p}" in result.stdout
    pid = int(result.stdout.split("ms-swift pid ", 1)[1].split(",", 1)[0])
    assert alive(pid) and time.monotonic() - started < 120
    follow_to_the_end(p)
    [run] = checkpoints.scan(tmp_path / "out")
    assert_completed(p, tmp_path / "out", run.path, epochs=1)
