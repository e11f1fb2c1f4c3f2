"""`swiftkit deploy` before any model loads: the exact argv, the key kept out of argv and output, refusing an
exposed server without a key, refusing a taken port, the served name, and `eval --endpoint` scoring."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import flag_values, resolved, trained_profile

from swiftkit.cli import cli
from swiftkit.config import profiles
from swiftkit.config.schema import IdentitySection
from swiftkit.errors import SwiftkitError
from swiftkit.eval import endpoint
from swiftkit.serve import address
from swiftkit.serve.endpoint import normalize_url
from swiftkit.serve.plan import examples, plan_deploy, served_name
from swiftkit.swift import render
from swiftkit.swift.render import Endpoint
from swiftkit.swift.version import flavor_for

V4 = flavor_for("4.6.0")
ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-7f3a9c"


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    """A profile whose output folder holds one complete (fake) checkpoint."""
    return trained_profile(tmp_path, "system: You are Zed.\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_deploy_argv_is_exact(monkeypatch):
    monkeypatch.chdir(ROOT)
    lp = profiles.load("cpu-demo", ["model.model=/models/smol", "system=You are Zed.", "infer.repetition_penalty=1.1"])
    ck = "output/cpu-demo/v0-20260101-000000/checkpoint-40"
    cmd = render.render_deploy(resolved(lp, ck), V4, Endpoint("127.0.0.1", 8123, "swift-robot", KEY))
    assert cmd.argv == [
        "swift", "deploy",
        "--model", "/models/smol", "--model_type", "llama", "--template", "chatml",
        "--external_plugins", "swiftkit/inside_swift/serve.py",
        "--adapters", ck,
        "--torch_dtype", "float32",
        "--system", "You are Zed.",
        "--infer_backend", "transformers",
        "--temperature", "0", "--max_new_tokens", "64", "--repetition_penalty", "1.1",
        "--max_batch_size", "16",
        "--host", "127.0.0.1", "--port", "8123", "--served_model_name", "swift-robot",
        "--verbose", "false",
    ]  # fmt: skip
    assert cmd.env == {
        "CUDA_VISIBLE_DEVICES": "",
        "SWIFTKIT_REMOTE_CODE": "off",  # the remote-code guard, as for every ms-swift process
        "PYTHONPATH": "swiftkit/inside_swift/guard",
        "SWIFTKIT_API_KEY": KEY,
    }


def test_the_key_never_reaches_argv_or_the_displayed_line(monkeypatch):
    monkeypatch.chdir(ROOT)
    lp = profiles.load("4090d")
    cmd = render.render_deploy(resolved(lp, "ck"), V4, Endpoint("0.0.0.0", 8000, "m", KEY))
    assert not any(KEY in arg for arg in cmd.argv)
    assert KEY not in cmd.display()
    assert cmd.display().startswith(
        "CUDA_VISIBLE_DEVICES=0 SWIFTKIT_REMOTE_CODE=off PYTHONPATH=swiftkit/inside_swift/guard "
        "SWIFTKIT_API_KEY=$SWIFTKIT_API_KEY swift deploy "
    )


@pytest.mark.parametrize(
    ("checkpoint", "model", "adapters"),
    [
        ("out/v0-20260101-000000/checkpoint-5", "/models/smol", "out/v0-20260101-000000/checkpoint-5"),
        ("out/v0-20260101-000000/checkpoint-5-merged", "out/v0-20260101-000000/checkpoint-5-merged", None),
        (None, "/models/smol", None),
    ],
)
def test_deploy_serves_an_adapter_a_merged_model_or_the_base(checkpoint, model, adapters):
    lp = profiles.load("cpu-demo", ["model.model=/models/smol"])
    argv = render.render_deploy(resolved(lp, checkpoint), V4, Endpoint("127.0.0.1", 8000, "m")).argv
    assert argv[argv.index("--model") + 1] == model
    assert (argv[argv.index("--adapters") + 1] if "--adapters" in argv else None) == adapters


@pytest.mark.parametrize("name", ["4090d", "cpu-demo", "h100"])
def test_deploy_serves_what_infer_answers_with(name):
    """Every flag of `swift infer` but --stream reaches `swift deploy` with the same value."""
    lp = profiles.load(name, ["infer.repetition_penalty=1.05", "system=Be Zed."])
    infer = flag_values(render.render_infer(resolved(lp, "ck"), V4).argv)
    deploy = flag_values(render.render_deploy(resolved(lp, "ck"), V4, Endpoint("127.0.0.1", 8000, "m")).argv)
    plugins = deploy.pop("--external_plugins")
    assert "--external_plugins" not in infer and len(plugins) == 1 and plugins[0].endswith("inside_swift/serve.py")
    infer.pop("--stream")
    assert {k: deploy[k] for k in infer} == infer
    assert {"--model", "--adapters", "--torch_dtype", "--system", "--temperature", "--repetition_penalty"} <= set(infer)


@pytest.mark.parametrize(
    ("setting", "backend"), [(None, "transformers"), ("vllm", "vllm"), ("sglang", "sglang"), ("lmdeploy", "lmdeploy")]
)
def test_the_profile_picks_the_deploy_backend(setting, backend):
    lp = profiles.load("4090d", [f"infer.infer_backend={setting}"] if setting else [])
    argv = render.render_deploy(resolved(lp, "ck"), V4, Endpoint("127.0.0.1", 8000, "m")).argv
    assert argv[argv.index("--infer_backend") + 1] == backend
    infer = render.render_infer(resolved(lp, "ck"), V4).argv  # infer keeps transformers: answers stay comparable
    assert infer[infer.index("--infer_backend") + 1] == "transformers"


def test_repetition_penalty_is_left_out_unless_set():
    lp = profiles.load("4090d")
    assert "--repetition_penalty" not in render.render_infer(resolved(lp, "ck"), V4).argv
    with pytest.raises(SwiftkitError, match="greater than 0"):
        profiles.load("4090d", ["infer.repetition_penalty=0"])


def test_deploy_needs_ms_swift_4():
    with pytest.raises(SwiftkitError, match="needs ms-swift 4.x"):
        render.render_deploy(resolved(profiles.load("4090d"), "ck"), flavor_for("3.12.1"), Endpoint("h", 1, "m"))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.org", False),
    ],
)
def test_loopback_hosts(host, loopback):
    assert address.is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "myhost"])
def test_an_exposed_server_without_a_key_is_refused(host):
    with pytest.raises(SwiftkitError, match=f"refusing to serve on {host} without an API key.*--api-key"):
        address.check_exposure(host, None)
    address.check_exposure(host, KEY)  # with a key it is allowed


def test_refusal_from_the_cli_before_anything_starts(trained, monkeypatch):
    monkeypatch.delenv("SWIFTKIT_API_KEY", raising=False)
    result = CliRunner().invoke(cli, ["deploy", "-p", str(trained), "--host", "0.0.0.0", "--dry-run"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: refusing to serve on 0.0.0.0 without an API key")


def test_the_environment_key_allows_an_exposed_dry_run(trained, monkeypatch):
    monkeypatch.setenv("SWIFTKIT_API_KEY", KEY)
    result = CliRunner().invoke(cli, ["deploy", "-p", str(trained), "--host", "0.0.0.0", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "SWIFTKIT_API_KEY=$SWIFTKIT_API_KEY swift deploy" in result.output and KEY not in result.output
    assert "--host 0.0.0.0 --port 8000 --served_model_name swift-robot" in result.output


def test_a_port_in_use_is_an_error_before_the_model_loads(trained, monkeypatch):
    monkeypatch.delenv("SWIFTKIT_API_KEY", raising=False)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["deploy", "-p", str(trained), "--port", str(port)])
    assert result.exit_code == 1
    assert f"Error: cannot serve on 127.0.0.1:{port}:" in result.output and "--port N" in result.output
    assert time.monotonic() - started < 5  # refused at once, no model was loaded
    assert not list(trained.parent.rglob("swiftkit-deploy-*.log"))  # nothing was started


def test_a_port_taken_on_all_interfaces_is_taken_for_loopback_too():
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert address.port_busy("127.0.0.1", port) is not None
    assert address.port_busy("127.0.0.1", port) is None  # free again once closed


def test_a_free_port_passes(trained):
    lp = profiles.load(str(trained))
    port = free_port()
    plan = plan_deploy(resolved(lp, "ck"), V4, Endpoint("127.0.0.1", port, "m"))
    assert plan.url == f"http://127.0.0.1:{port}/v1"
    assert plan.log_path == Path(f"swiftkit-deploy-{port}.log")  # next to the checkpoint (here: relative 'ck')


@pytest.mark.parametrize(
    ("identity", "profile_name", "expected"),
    [
        (IdentitySection(name="Swift-Robot", author="ACME"), "cpu-demo", "swift-robot"),
        (IdentitySection(name="  Zed 2 (beta) ", author="x"), "p", "zed-2-beta"),
        (IdentitySection(name="小斯", author="x"), "my-profile", "my-profile"),
        (None, "cpu-demo", "cpu-demo"),
    ],
)
def test_served_name_comes_from_the_identity(identity, profile_name, expected):
    lp = profiles.load("cpu-demo")
    lp.profile.identity = identity
    lp.name = profile_name
    assert served_name(resolved(lp)) == expected


def test_examples_are_pasteable_and_never_show_the_key():
    text = examples("http://127.0.0.1:8000/v1", "swift-robot", KEY)
    assert KEY not in text
    assert "curl -s http://127.0.0.1:8000/v1/chat/completions" in text
    assert '"Authorization: Bearer $SWIFTKIT_API_KEY"' in text and '"model": "swift-robot"' in text
    assert "OpenAI(base_url='http://127.0.0.1:8000/v1', api_key=os.environ[\"SWIFTKIT_API_KEY\"])" in text
    assert "Authorization" not in examples("http://127.0.0.1:8000/v1", "m", None)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1"),
        ("https://h.example/v1", "https://h.example/v1"),
    ],
)
def test_endpoint_urls(url, expected):
    assert normalize_url(url) == expected


def test_an_endpoint_must_be_a_url():
    with pytest.raises(SwiftkitError, match="not an http"):
        normalize_url("127.0.0.1:8000")


class FakeClient:
    """Stands in for the OpenAI client: answers from a table."""

    table: dict[str, str] = {}

    def __init__(self, url: str, api_key: str | None) -> None:
        self.url = normalize_url(url)

    def pick_model(self, wanted: str | None) -> str:
        return wanted or "swift-robot"

    def answers(self, model, prompts, gen, concurrency=1, on_progress=None):
        for done in range(1, len(prompts) + 1):
            if on_progress is not None:
                on_progress(done, len(prompts))
        return [self.table[p] for p in prompts]


def test_endpoint_eval_scores_and_agrees_with_the_local_report(tmp_path, monkeypatch):
    probes, general = tmp_path / "probes.jsonl", tmp_path / "general.jsonl"
    probes.write_text('{"prompt": "Who are you?"}\n{"prompt": "你是谁？", "lang": "zh"}\n')
    general.write_text('{"prompt": "Capital of France?"}\n')
    FakeClient.table = {
        "Who are you?": "I am Swift-Robot by ACME Lab.",
        "你是谁？": "说说说说说说说说说说",
        "Capital of France?": "Paris.",
    }
    local = tmp_path / "swiftkit-eval.json"
    rows = [
        {"prompt": "Who are you?", "base": "I am an AI.", "adapter": "I am  Swift-Robot by ACME Lab."},
        {"prompt": "你是谁？", "base": "我是AI。", "adapter": "我是Swift-Robot。"},
        {"prompt": "Capital of France?", "base": "Paris.", "adapter": "Paris."},
    ]
    base = {"identity_pass": 0, "identity_total": 2, "polluted": 0, "general_total": 1}
    adapter = {"identity_pass": 1, "identity_total": 2, "polluted": 0, "general_total": 1}
    local.write_text(json.dumps({"rows": rows, "base": base, "adapter": adapter}))
    monkeypatch.setattr(endpoint, "EndpointClient", FakeClient)
    lp = profiles.load("cpu-demo")
    report = endpoint.run_endpoint_eval(lp, "http://127.0.0.1:1", None, None, probes, general, local)
    assert (report.served.identity_pass, report.served.identity_total, report.served.degenerate) == (1, 2, 1)
    assert (report.agree, report.compared) == (2, 3)  # whitespace does not count; the looping answer differs
    text = endpoint.table(report)
    assert "agreement with the local adapter's answers: 2/3  66.7%" in text
    assert "base (local)" in text and "adapter (local)" in text and "served" in text
    missing = endpoint.run_endpoint_eval(lp, "http://127.0.0.1:1", None, None, probes, general, tmp_path / "none")
    assert missing.local is None and missing.compared == 0


def test_endpoint_eval_of_a_prompt_list_needs_an_identity(tmp_path):
    lp = profiles.load("cpu-demo")
    lp.profile.identity = None
    with pytest.raises(SwiftkitError, match="no identity"):
        endpoint.run_endpoint_eval(lp, "http://127.0.0.1:1", None, None, tmp_path, tmp_path)


def test_the_server_child_keeps_the_users_pythonpath_after_the_guard(tmp_path, monkeypatch):
    """A user whose ms-swift lives on PYTHONPATH (a --target install) could train but not deploy: the server's child
    got the guard's PYTHONPATH alone ("No module named 'swift'", H200, 2026-12-03). Real child, its environment read."""
    import os
    import sys

    from swiftkit.serve.plan import DeployPlan
    from swiftkit.serve.server import Server
    from swiftkit.swift.render import Command

    monkeypatch.setenv("PYTHONPATH", "/site/of/ms-swift")
    show = "import os; print('PYTHONPATH=' + os.environ['PYTHONPATH'])"
    command = Command([sys.executable, "-c", show], {"PYTHONPATH": str(render.GUARD_DIR)})
    log = tmp_path / "deploy.log"
    server = Server(DeployPlan(command, Endpoint("127.0.0.1", free_port(), "m"), None, log))
    server.start()
    assert server.proc is not None and server.proc.wait(60) == 0
    line = next(x for x in log.read_text().splitlines() if x.startswith("PYTHONPATH="))
    assert line.removeprefix("PYTHONPATH=").split(os.pathsep) == [str(render.GUARD_DIR), "/site/of/ms-swift"]
