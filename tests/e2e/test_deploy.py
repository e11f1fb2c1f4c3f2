"""`swiftkit deploy` for real: the tiny model trained by `swiftkit train`, served by the real `swift deploy` on
127.0.0.1 through `swiftkit deploy`, driven by the real `openai` package; then stopped by Ctrl-C, SIGTERM and a
killed swiftkit. Also: `swiftkit eval --endpoint` agrees with `swiftkit eval`, and the merged model's chat template
defaults to the training system prompt under plain transformers."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx  # both in the [test] extra: a missing client fails the run, never skips it silently
import openai
import pytest
from conftest import ROOT, run_cli

from e2e.conftest import tiny_profile

pytestmark = pytest.mark.e2e

KEY = "sk-e2e-" + os.urandom(6).hex()
SYSTEM = "You are Zed, a helpful assistant."
READY_TIMEOUT = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    """Nothing answers there and a new server could bind it."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Deployed:
    proc: subprocess.Popen[bytes]
    port: int
    out: Path
    err: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def client(self, key: str = KEY) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=key, max_retries=0, timeout=120)

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def server_pids(self) -> set[int]:
        """The ms-swift processes of this deploy (their own process group, led by the server)."""
        found = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if b"swift.cli.deploy" in b" ".join(cmdline) and str(self.port).encode() in cmdline:
                    found.add(int(entry.name))
        return found

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started


def start(profile: Path, folder: Path, *extra: str) -> Deployed:
    port = free_port()
    out, err = folder / f"deploy-{port}.out", folder / f"deploy-{port}.err"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "swiftkit", "deploy", "--profile", str(profile), "--port", str(port), *extra],
            cwd=ROOT,
            env={**os.environ, "SWIFTKIT_API_KEY": KEY},
            stdout=o,
            stderr=e,
        )
    deployed = Deployed(proc, port, out, err)
    deadline = time.monotonic() + READY_TIMEOUT
    while "Ready after" not in deployed.stdout():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"deploy did not get ready:\n{deployed.stdout()}\n{deployed.stderr()[-3000:]}")
        time.sleep(0.5)
    return deployed


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """The tiny model trained with a system prompt of its own (so its merged template must change)."""
    folder = tmp_path_factory.mktemp("deploy")
    profile = tiny_profile(folder, tiny_model)
    profile.write_text(profile.read_text() + f"system: {SYSTEM}\n")
    result = run_cli("train", "--profile", str(profile))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return profile


@pytest.fixture(scope="module")
def server(trained: Path) -> Iterator[Deployed]:
    deployed = start(trained, trained.parent)
    yield deployed
    if deployed.proc.poll() is None:
        deployed.proc.kill()
        deployed.proc.wait()
    for pid in deployed.server_pids():
        os.kill(pid, signal.SIGKILL)


def ask(client: openai.OpenAI, prompt: str, **kw: Any) -> str:
    reply = client.chat.completions.create(
        model="swift-robot", messages=[{"role": "user", "content": prompt}], temperature=0, **kw
    )
    return str(reply.choices[0].message.content)


def test_ready_output_names_url_model_and_examples(server):
    text = server.stdout()
    assert f"swift-robot at {server.url}" in text
    assert "curl -s" in text and "from openai import OpenAI" in text and "Ctrl-C stops the server." in text
    assert KEY not in text + server.stderr()  # the key is never printed
    log = next(server.out.parent.rglob(f"swiftkit-deploy-{server.port}.log"))
    assert KEY not in log.read_text(encoding="utf-8", errors="replace")  # nor logged by ms-swift
    assert log.stat().st_mode & 0o077 == 0  # and the log (prompts may be in it) is private
    assert "loading the model" in server.stderr()  # startup progress was shown


def test_models_chat_and_stream(server):
    client = server.client()
    assert [m.id for m in client.models.list().data] == ["swift-robot"]
    answer = ask(client, "Who are you?")
    assert answer  # the tiny random model may answer only whitespace, but never nothing
    chunks = list(
        client.chat.completions.create(
            model="swift-robot", messages=[{"role": "user", "content": "Who are you?"}], temperature=0, stream=True
        )
    )
    assert len(chunks) > 1
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == answer


def test_eight_concurrent_requests_all_answered_like_one_at_a_time(server):
    client = server.client()
    prompts = [f"Question {i}: who made you?" for i in range(8)]
    alone = [ask(client, p) for p in prompts]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda p: ask(client, p), prompts))
    assert together == alone and all(together)


@pytest.mark.parametrize("key", [None, "wrong-key", KEY + "x"])
def test_a_wrong_or_missing_key_gets_401(server, key):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": "swift-robot", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(f"{server.url}/chat/completions", json=body, headers=headers).status_code == 401
    assert httpx.get(f"{server.url}/models", headers=headers).status_code == 401
    if key:
        with pytest.raises(openai.AuthenticationError):
            ask(server.client(key), "hi")
    assert httpx.get(f"http://127.0.0.1:{server.port}/health").status_code == 200  # health checks stay open


def test_bad_requests_get_4xx_and_the_server_keeps_serving(server):
    client = server.client()
    expected = ask(client, "Who are you?")
    auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    malformed = httpx.post(f"{server.url}/chat/completions", content=b'{"model": "swift-robot", "messa', headers=auth)
    assert malformed.status_code == 422
    with pytest.raises(openai.BadRequestError, match="not in the model_list"):
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    too_long = "hello " * 2500  # the tiny model's limit is 2048 tokens
    with pytest.raises(openai.BadRequestError, match="larger than the max_length"):
        ask(client, too_long)
    with pytest.raises(openai.BadRequestError, match="larger than the max_length"):
        list(
            client.chat.completions.create(
                model="swift-robot", messages=[{"role": "user", "content": too_long}], stream=True
            )
        )  # ms-swift alone answers 200 and an empty stream
    assert ask(client, "Who are you?") == expected  # the same client, after all of that


def test_one_bad_request_does_not_fail_the_requests_batched_with_it(server):
    client = server.client()
    prompts = [f"Question {i}" for i in range(7)] + ["hello " * 2500]

    def status(prompt: str) -> object:
        try:
            return ask(client, prompt)
        except openai.BadRequestError:
            return 400

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(status, prompts))
    assert results[-1] == 400
    assert all(isinstance(r, str) and r for r in results[:-1]), results


def test_served_answers_equal_swiftkit_infer_at_temperature_0(server, trained):
    prompts = ["Who are you?", "你是谁？", "What is the capital of France?"]
    local = run_cli("infer", "--profile", str(trained), *[a for p in prompts for a in ("--prompt", p)])
    assert local.returncode == 0, local.stderr[-3000:]
    answers = re.findall(r"^A: (.*)$", local.stdout, re.M)
    assert len(answers) == 3, local.stdout
    assert [ask(server.client(), p).strip() for p in prompts] == answers


def test_eval_endpoint_agrees_with_local_eval(server, trained):
    from swiftkit.data.prompts import shipped_prompts

    probes, general = trained.parent / "probes.jsonl", trained.parent / "general.jsonl"
    for name, dest in (("identity_probes.jsonl", probes), ("general.jsonl", general)):  # a slice keeps it quick
        lines = shipped_prompts(name).read_text(encoding="utf-8").splitlines()
        dest.write_text("\n".join(lines[:6] + lines[-6:]) + "\n", encoding="utf-8")
    files = ("--probes", str(probes), "--general", str(general))
    local = run_cli("eval", "--profile", str(trained), *files, "--json")
    assert local.returncode == 0, local.stderr[-3000:]
    # the progress goes to stderr, counted as ms-swift writes the answers; stdout stays the JSON report
    assert "> eval: base model 24/24 answers" in local.stderr and "> eval: adapter 24/24 answers" in local.stderr
    served = run_cli(
        "eval", "--profile", str(trained), *files, "--endpoint", server.url, "--json", env={"SWIFTKIT_API_KEY": KEY}
    )
    assert served.returncode == 0, served.stderr[-3000:]
    assert "> eval: served model 24/24 answers" in served.stderr  # several at a time, counted like the local eval
    report, mine = json.loads(served.stdout), json.loads(local.stdout)
    saved = Path(mine["checkpoint"]) / "swiftkit-eval-endpoint.json"  # beside the local report, with a Markdown copy
    assert json.loads(saved.read_text(encoding="utf-8"))["rows"] == report["rows"]
    assert "## Every answer (24)" in saved.with_suffix(".md").read_text(encoding="utf-8")
    assert report["model"] == "swift-robot"
    assert report["agreement"]["compared"] == len(mine["rows"]) == 24
    print("agreement", report["agreement"])
    assert report["agreement"]["agree"] == report["agreement"]["compared"]
    for key in ("identity_pass", "polluted", "degenerate"):
        assert report["served"][key] == mine["adapter"][key], key
    refused = run_cli(
        "eval", "--profile", str(trained), *files, "--endpoint", server.url, env={"SWIFTKIT_API_KEY": "no"}
    )
    assert refused.returncode == 1 and "refused the API key (401)" in refused.stderr


def test_ctrl_c_exits_130_and_frees_the_port(server):
    """Last of the shared server's tests: it stops it."""
    pids = server.server_pids()
    assert pids
    code, seconds = server.stop(signal.SIGINT)
    assert code == 130 and "Interrupted." in server.stderr()
    deadline = time.monotonic() + 10
    while not port_free(server.port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert port_free(server.port), "port still in use 10 s after swiftkit exited"
    assert not server.server_pids() and not any(Path(f"/proc/{p}").exists() for p in pids)
    print(f"Ctrl-C: exit 130 after {seconds:.1f} s")


def test_export_makes_the_training_system_prompt_the_template_default(trained):
    from transformers import AutoTokenizer

    exported = run_cli("export", "--profile", str(trained))
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert f"chat template default system prompt set to {SYSTEM!r}" in exported.stdout
    found = re.search(r"^Merged model: (.*)$", exported.stdout, re.M)
    assert found is not None, exported.stdout
    merged = Path(found.group(1))
    tokenizer = AutoTokenizer.from_pretrained(str(merged))
    user = [{"role": "user", "content": "Who are you?"}]
    plain = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    assert plain == tokenizer.apply_chat_template(
        [{"role": "system", "content": SYSTEM}, *user], tokenize=False, add_generation_prompt=True
    )
    assert "SmolLM" not in plain


def test_the_merged_model_serves_the_same_answers_and_sigterm_stops_it(trained):
    adapter = run_cli("infer", "--profile", str(trained), "--prompt", "Who are you?")
    exported = run_cli("export", "--profile", str(trained))  # a no-op when already merged
    assert exported.returncode == 0, exported.stderr[-3000:]
    deployed = start(trained, trained.parent, "--merged")
    try:
        assert "-merged as 'swift-robot'" in deployed.stderr()
        assert f"A: {ask(deployed.client(), 'Who are you?').strip()}" in adapter.stdout
    finally:
        code, _ = deployed.stop(signal.SIGTERM)
    assert code == 130
    assert port_free(deployed.port) and not deployed.server_pids()


def test_a_killed_swiftkit_leaves_no_server_behind(trained):
    deployed = start(trained, trained.parent)
    deployed.proc.kill()  # SIGKILL: swiftkit cannot clean up; the server must go by itself
    deployed.proc.wait()
    deadline = time.monotonic() + 20
    while (deployed.server_pids() or not port_free(deployed.port)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not deployed.server_pids() and port_free(deployed.port)
