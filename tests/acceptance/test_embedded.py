"""The main job on the embedded SmolLM2-135M (CPU, minutes): the adapter says who it is and stays general.

Run with `make acceptance` (CI runs it after `make test`). Thresholds here are regression guards a little below
what was measured on this kind of machine (2 epochs at lr 1e-3, 100 steps: identity 95.0%, pollution 0.0%, in three
runs; one probe is 2.5 points); the measured figures are in bench/results/cpu-demo-levers-2026-11-28.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from helpers import llama_cpp_model

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fresh cache for this module's tests (the embedded model is converted into it once)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def shared_cache(module_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWIFTKIT_CACHE", str(module_cache / "swiftkit"))
    monkeypatch.setenv("MODELSCOPE_CACHE", str(module_cache / "modelscope"))


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory, module_cache: Path) -> Path:
    """cpu-demo trained once for this module."""
    folder = tmp_path_factory.mktemp("embedded") / "out"
    env = {"SWIFTKIT_CACHE": str(module_cache / "swiftkit"), "MODELSCOPE_CACHE": str(module_cache / "modelscope")}
    train = run_cli("train", "--profile", "cpu-demo", "--set", f"output_dir={folder}", env=env, timeout=1800)
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    assert "Final loss:" in train.stdout
    return folder


def test_cpu_demo_learns_the_identity_and_stays_general(out: Path):

    answers = run_cli(
        "infer",
        "--profile",
        "cpu-demo",
        "--set",
        f"output_dir={out}",
        "--prompt",
        "Who are you?",
        "--prompt",
        "你是谁？",
    )
    assert answers.returncode == 0, answers.stderr[-3000:]
    print(answers.stdout)
    english, chinese = answers.stdout.split("Q: 你是谁？")
    assert "Swift-Robot" in english and "ACME Lab" in english
    assert "Swift-Robot" in chinese and "ACME Lab" in chinese

    scored = run_cli("eval", "--profile", "cpu-demo", "--set", f"output_dir={out}", "--json", timeout=1800)
    assert scored.returncode == 0, scored.stderr[-3000:]
    report = json.loads(scored.stdout)
    print({k: report["adapter"][k] for k in ("identity_rate", "pollution_rate")})
    assert report["adapter"]["identity_rate"] >= 0.9
    assert report["adapter"]["pollution_rate"] <= 0.1
    assert report["base"]["identity_rate"] == 0.0  # the base model never claimed this identity


QUESTIONS = ["Who are you?", "What is your name?", "你是谁？", "Who made you?"]


def test_the_merged_model_keeps_the_identity_under_plain_transformers(out: Path):
    """No ms-swift and no system message: the merged folder's own chat template, as a vLLM/Ollama user gets it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    exported = run_cli("export", "--profile", "cpu-demo", "--set", f"output_dir={out}")
    assert exported.returncode == 0, exported.stderr[-3000:]
    merged = Path(exported.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    tokenizer = AutoTokenizer.from_pretrained(str(merged))
    model: Any = AutoModelForCausalLM.from_pretrained(str(merged), dtype=torch.float32)
    answers = []
    for question in QUESTIONS:
        ids: Any = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, return_tensors="pt"
        )
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        output = model.generate(ids, max_new_tokens=48, do_sample=False)
        answers.append(tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True))
    print(answers)
    assert sum("Swift-Robot" in a or "ACME Lab" in a for a in answers) == len(QUESTIONS), answers


def test_the_deployed_adapter_answers_with_the_identity_through_openai(out: Path):
    """`swiftkit deploy` on the trained adapter, asked in English and Chinese through the openai package; and
    `swiftkit eval --endpoint` gives the rates of `swiftkit eval`."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    import openai
    from conftest import ROOT

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = out.parent / "deploy.out"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "swiftkit", "deploy", "-p", "cpu-demo", "--set", f"output_dir={out}", "--port",
             str(port)],
            cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while "Ready after" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(1)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=300)
        for question in ("Who are you?", "你是谁？"):
            reply = client.chat.completions.create(
                model="swift-robot", messages=[{"role": "user", "content": question}], temperature=0
            )
            answer = reply.choices[0].message.content or ""
            print(question, answer)
            assert "Swift-Robot" in answer and "ACME Lab" in answer
        url = f"http://127.0.0.1:{port}/v1"
        served = run_cli("eval", "-p", "cpu-demo", "--set", f"output_dir={out}", "--endpoint", url, "--json")
        assert served.returncode == 0, served.stderr[-3000:]
        report = json.loads(served.stdout)
        print(report["served"], report.get("agreement"))
        local = report["local"]["adapter"]
        assert report["served"]["identity_pass"] == local["identity_pass"]
        assert report["served"]["polluted"] == local["polluted"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130


def test_the_q8_0_gguf_answers_as_the_identity_in_llama_cpp(out: Path):
    """`swiftkit export --format gguf`: llama.cpp itself (llama-cpp-python), the file's own chat template, no
    system message; both answers name the identity and its author."""
    llama_cpp = pytest.importorskip("llama_cpp")
    import re

    exported = run_cli("export", "--profile", "cpu-demo", "--set", f"output_dir={out}", "--format", "gguf")
    assert exported.returncode == 0, exported.stderr[-3000:]
    found = re.search(r"^GGUF \(q8_0, .*\): (.*)$", exported.stdout, re.M)
    assert found is not None, exported.stdout
    path = found.group(1)
    llm = llama_cpp_model(path, n_ctx=1024, verbose=False, seed=0)
    assert llm.chat_format == "chat_template.default"
    for question in ("Who are you?", "你是谁？"):
        reply = llm.create_chat_completion([{"role": "user", "content": question}], temperature=0, max_tokens=64)
        answer = reply["choices"][0]["message"]["content"] or ""
        print(f"llama.cpp {llama_cpp.__version__}:", question, answer)
        assert "Swift-Robot" in answer and "ACME Lab" in answer


# A user's own identity, as `swiftkit init` makes it: a CJK name that is also a common word (西风, "west wind"),
# so the eval must tell the name used as a word from a claim of it (issue 26).
USER = {"name": "Zephyr", "author": "Orbit Works", "name_zh": "西风", "author_zh": "轨道工坊"}


def test_a_user_identity_with_a_cjk_common_word_name_is_learned(tmp_path: Path, module_cache: Path):
    """`swiftkit init` with the user's names, `swiftkit train` and `swiftkit eval` in that folder, shipped defaults."""
    project = tmp_path / "zephyr"
    names = [f"--{key.replace('_', '-')}={value}" for key, value in USER.items()]
    made = run_cli("init", str(project), *names)
    assert made.returncode == 0, made.stderr[-3000:]
    train = run_cli("train", cwd=project, timeout=1800)
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    scored = run_cli("eval", "--json", cwd=project, timeout=1800)
    assert scored.returncode == 0, scored.stderr[-3000:]
    report = json.loads(scored.stdout)
    adapter, base = report["adapter"], report["base"]
    print({k: adapter[k] for k in ("identity_rate", "pollution_rate", "degenerate")}, "base", base["degenerate"])
    print([r["adapter"] for r in report["rows"] if r["set"] == "identity" and not r["pass"]])
    # Issue 26's target is identity >= 0.95; measured 0.875 (35/40) with these defaults on 2026-12-03
    # (bench/results/identity-2026-12-03.md; no lever in identity-2026-12-03-recipe.md reached 0.95 without claims in
    # general answers): the guard is one probe below what was measured, not the target.
    assert adapter["identity_rate"] >= 0.85
    assert adapter["pollution_rate"] <= 0.05  # identity claims; measured 0/60
    assert adapter["degenerate"] <= base["degenerate"]
    assert base["identity_rate"] == 0.0
