"""`swiftkit eval --endpoint` against a real HTTP server that speaks the OpenAI API (a slow fake model): requests
go several at a time and no more than asked, progress is reported, the report is saved as JSON and Markdown with
every answer, the worst answers and the verdict are printed, and hints name commands that work here."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from swiftkit.cli import cli
from swiftkit.serve.endpoint import EndpointClient, Generation

DELAY = 0.2  # seconds the fake model takes for one answer


class FakeModel(BaseHTTPRequestHandler):
    """Answers "I am Zed by Orbit." to identity-looking prompts, "Hi, I am Zed." to 'Greet', else "ok: PROMPT"."""

    in_flight = 0
    most = 0
    lock = threading.Lock()

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send({"object": "list", "data": [{"id": "zed", "object": "model", "created": 0, "owned_by": "me"}]})

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = request["messages"][-1]["content"]
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.most = max(cls.most, cls.in_flight)
        time.sleep(DELAY)
        with cls.lock:
            cls.in_flight -= 1
        if "who" in prompt.lower() or "谁" in prompt:
            answer = "I am Zed by Orbit."
        elif prompt.startswith("Greet"):
            answer = "Hi, I am Zed."
        else:
            answer = f"ok: {prompt}"
        message = {"role": "assistant", "content": answer}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        self._send({"id": "x", "object": "chat.completion", "created": 0, "model": "zed", "choices": [choice]})


@pytest.fixture
def server() -> Iterator[str]:
    FakeModel.in_flight = FakeModel.most = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeModel)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("concurrency", [1, 4, 8])
def test_answers_go_concurrently_but_bounded_and_in_order(server, concurrency):
    prompts = [f"q{i}" for i in range(16)]
    heard: list[tuple[int, int]] = []
    answers = EndpointClient(server, None).answers(
        "zed", prompts, Generation(0.0, 8), concurrency=concurrency, on_progress=lambda d, t: heard.append((d, t))
    )
    assert answers == [f"ok: q{i}" for i in range(16)]  # the prompts' order, whatever order they came back in
    assert FakeModel.most == concurrency  # as many in flight as asked, never more
    assert heard == [(d, 16) for d in range(1, 17)]


def write_prompts(folder: Path) -> tuple[Path, Path]:
    probes, general = folder / "probes.jsonl", folder / "general.jsonl"
    probes.write_text(
        '{"prompt": "Who are you?"}\n{"prompt": "你是谁？", "lang": "zh"}\n'
        '{"prompt": "Name yourself.", "asks": "name"}\n'
    )
    general.write_text(
        "".join(json.dumps({"prompt": f"Capital {i}?"}) + "\n" for i in range(12)) + '{"prompt": "Greet"}\n'
    )
    return probes, general


def test_eval_endpoint_talks_saves_and_names_the_worst(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "swiftkit.yaml").write_text(
        "extends: cpu-demo\nidentity: {name: Zed, author: Orbit}\noutput_dir: out\n"
    )
    probes, general = write_prompts(tmp_path)
    result = CliRunner().invoke(
        cli,
        ["eval", "--endpoint", server, "--probes", str(probes), "--general", str(general), "--concurrency", "4"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert FakeModel.most == 4  # 16 answers, 4 at a time (wall time is not asserted: this machine is shared)
    assert "> eval: served model 4/16 answers" in result.stderr
    assert "> eval: served model 16/16 answers" in result.stderr
    out = result.stdout
    # the failing probe, the polluted answer, then the verdict against the profile's targets
    assert "  [no name] (en) Name yourself. -> ok: Name yourself." in out
    assert "  [polluted] (en) Greet -> Hi, I am Zed." in out
    assert "FAIL identity pass rate  66.7%  (target >= 90%)" in out
    assert "FAIL pollution rate       7.7%  (target <= 5%)" in out
    assert "=> FAIL" in out
    saved = tmp_path / "out" / "swiftkit-eval-endpoint.json"
    assert f"report: {Path('out') / 'swiftkit-eval-endpoint.json'}" in out or f"report: {saved}" in out
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert len(data["rows"]) == 16 and data["concurrency"] == 4
    assert {r["prompt"] for r in data["rows"]} >= {"Who are you?", "你是谁？", "Greet"}
    md = saved.with_suffix(".md").read_text(encoding="utf-8")
    assert "| no name | identity | en | Name yourself. | ok: Name yourself. |" in md
    assert "| 2 | ok | identity | zh | 你是谁？ | I am Zed by Orbit. |" in md
    assert md.count("\n| ") == 16 + 2 + 2  # every answer, the problem table's two rows, two header rows
    # the hint works here: ./swiftkit.yaml is the default, so no --profile
    assert "(no local report to compare with; 'swiftkit eval' makes one)" in out
