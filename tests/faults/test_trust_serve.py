"""Issue 20, rows 3 and 6, against a live server: the tiny model trained and served by `swiftkit deploy` with its
key in a 0600 key file. Row 3: the key is in no process's /proc/PID/cmdline (every process on the machine). Row 6:
a 50 MB body gets 413 before it is read (it took 120 s and 0.7 -> 4.3 GB), ``max_tokens=1e12`` gets 400 at once
(it generated for 72 s), ``1e400`` and ``NaN`` get 400 (``1e400`` was a 500), and the server keeps answering."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, run_cli

pytestmark = pytest.mark.e2e

KEY = "sk-trust-" + os.urandom(6).hex()


class Served:
    def __init__(self, port: int, out: Path) -> None:
        self.port, self.out = port, out

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def post(self, body: bytes, timeout: float = 30) -> httpx.Response:
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        return httpx.post(f"{self.url}/chat/completions", content=body, headers=headers, timeout=timeout)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Served]:
    from e2e.conftest import tiny_profile

    folder = tmp_path_factory.mktemp("served")
    profile = tiny_profile(folder, tiny_model)
    env = {k: v for k, v in os.environ.items() if k != "SWIFTKIT_API_KEY"}
    trained = run_cli("train", "--profile", str(profile), env=env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key_file = folder / "key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    out = folder / "deploy.out"
    argv = [sys.executable, "-m", "swiftkit", "deploy", "-p", str(profile), "--port", str(port)]
    with open(out, "wb") as o:
        proc = subprocess.Popen(
            [*argv, "--api-key-file", str(key_file)], cwd=ROOT, env=env, stdout=o, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 300
        while b"Ready after" not in out.read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()[-3000:]
            time.sleep(0.5)
        yield Served(port, out)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def cmdlines_with(secret: bytes) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if secret in cmdline:
                found.append(entry.name + ": " + cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def test_the_key_is_in_no_process_cmdline(served: Served):
    assert cmdlines_with(KEY.encode()) == []  # every process on the machine, the server's included
    assert httpx.get(f"{served.url}/models").status_code == 401
    assert httpx.get(f"{served.url}/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert KEY.encode() not in served.out.read_bytes()


def chat(**extra: object) -> bytes:
    return json.dumps({"model": "swift-robot", "messages": [{"role": "user", "content": "hi"}], **extra}).encode()


def read_response(conn: socket.socket) -> bytes:
    """One whole HTTP response (headers and the Content-Length body): they can arrive in separate segments."""
    reply = b""
    while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < body_length(reply):
        chunk = conn.recv(4096)
        if not chunk:
            break
        reply += chunk
    return reply


def body_length(reply: bytes) -> int:
    for line in reply.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_huge_body_gets_413_before_it_is_read(served: Served):
    size = 50 * 1024 * 1024
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", served.port), timeout=15) as conn:
        conn.sendall(head + b'{"model": "swift-robot", "messages": [' + b" " * (1024 * 1024))
        reply = read_response(conn)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
    assert b"larger than 4194304 bytes" in reply and time.monotonic() - started < 10
    assert served.post(chat(max_tokens=4)).status_code == 200  # and it keeps serving


@pytest.mark.parametrize(
    "body, problem",
    [
        (chat(max_tokens=10**12), "max_tokens must be an integer from 1 to the model's context"),
        (chat()[:-1] + b', "max_tokens": 1e400}', "max_tokens must be a finite number"),
        (chat()[:-1] + b', "temperature": NaN}', "NaN is not a number JSON allows"),
        (chat(max_tokens=-5), "max_tokens must be an integer"),
        (chat(n=10**9), "n must be an integer from 1 to 16"),
        (chat(top_p=7), "top_p must be a number from 0.0 to 1.0"),
    ],
)
def test_out_of_range_numbers_get_400_at_once(served: Served, body: bytes, problem: str):
    started = time.monotonic()
    reply = served.post(body, timeout=30)
    assert reply.status_code == 400, reply.text[:500]
    assert problem in reply.json()["error"]["message"] and time.monotonic() - started < 5
