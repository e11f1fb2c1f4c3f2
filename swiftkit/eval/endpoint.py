"""`swiftkit eval --endpoint`: the identity probes and general prompts of `swiftkit eval`, asked through the OpenAI
API of a served model, scored the same way, and compared answer by answer with the local eval report when there
is one (at temperature 0 on the same adapter they should agree)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from swiftkit.config.profiles import LoadedProfile
from swiftkit.data.prompts import load_prompts
from swiftkit.errors import SwiftkitError
from swiftkit.eval import report as verdicts
from swiftkit.eval.score import Side, degenerate, identity_pass, polluted, same_answer, side
from swiftkit.fsutil import atomic_write_json, atomic_write_text
from swiftkit.layout import EVAL_ENDPOINT_REPORT
from swiftkit.serve.endpoint import EndpointClient, Generation, Progress

CONCURRENCY = 8


@dataclass
class LocalReport:
    """What `swiftkit eval` saved in the checkpoint: its answers by prompt and its scores."""

    path: Path
    base: dict[str, str]
    adapter: dict[str, str]
    scores: dict[str, Any]


@dataclass
class EndpointReport:
    url: str
    model: str
    served: Side
    rows: list[dict[str, Any]] = field(default_factory=list)
    agree: int = 0  # served answers equal to the local adapter's (up to whitespace)
    compared: int = 0  # prompts the local report also answered
    local: Optional[LocalReport] = None
    seconds: float = 0.0  # wall time of the requests
    concurrency: int = 1
    saved: Optional[Path] = None  # the JSON report (its Markdown copy beside it)

    def to_json(self) -> dict[str, Any]:
        served = asdict(self.served)
        served.update(
            identity_rate=self.served.identity_rate,
            pollution_rate=self.served.pollution_rate,
            degenerate_rate=self.served.degenerate_rate,
        )
        out: dict[str, Any] = {
            "url": self.url,
            "model": self.model,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 2),
            "served": served,
            "rows": self.rows,
        }
        if self.local is not None:
            out["local_report"] = str(self.local.path)
            out["local"] = {k: self.local.scores.get(k) for k in ("base", "adapter")}
            out["agreement"] = {"agree": self.agree, "compared": self.compared}
        return out


def read_local_report(path: Path) -> Optional[LocalReport]:
    """The local eval report, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = data["rows"]
        base = {str(r["prompt"]): str(r["base"]) for r in rows}
        adapter = {str(r["prompt"]): str(r["adapter"]) for r in rows}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return LocalReport(path, base, adapter, data)


def generation(lp: LoadedProfile) -> Generation:
    inf = lp.profile.infer
    return Generation(inf.temperature, inf.max_new_tokens, inf.repetition_penalty)


def run_endpoint_eval(
    lp: LoadedProfile,
    url: str,
    api_key: Optional[str],
    model: Optional[str],
    probes_file: Path,
    general_file: Path,
    local_report: Optional[Path] = None,
    *,
    concurrency: int = CONCURRENCY,
    on_progress: Optional[Progress] = None,
    report_dir: Optional[Path] = None,
) -> EndpointReport:
    """Ask the served model every probe and general prompt, ``concurrency`` requests at a time; score; compare
    with ``local_report`` if readable; save the report (JSON and Markdown) in ``report_dir`` when given."""
    import time

    ident = lp.profile.identity
    if ident is None:
        raise SwiftkitError(f"profile {lp.name} has no identity: section; eval needs the name and author to look for.")
    probes, general = load_prompts(probes_file), load_prompts(general_file)
    client = EndpointClient(url, api_key)
    name = client.pick_model(model)
    gen = generation(lp)
    questions = [p.prompt for p in probes] + [p.prompt for p in general]
    started = time.monotonic()
    answers = client.answers(name, questions, gen, concurrency=concurrency, on_progress=on_progress)
    seconds = time.monotonic() - started
    n = len(probes)
    served = side(ident, probes, general, {"probes": answers[:n], "general": answers[n:]})
    local = read_local_report(local_report) if local_report is not None else None
    report = EndpointReport(client.url, name, served, local=local, seconds=seconds, concurrency=concurrency)
    for i, (prompt, answer) in enumerate(zip(probes + general, answers, strict=True)):
        row: dict[str, Any] = {
            "set": "identity" if i < n else "general",
            "prompt": prompt.prompt,
            "lang": prompt.lang,
            "served": answer,
            "degenerate": degenerate(answer),
        }
        if i < n:
            row["asks"] = prompt.asks
            row["pass"] = identity_pass(answer, prompt.asks, ident)
        else:
            row["polluted"] = polluted(answer, ident)
        if local is not None and prompt.prompt in local.adapter:
            row["local"] = local.adapter[prompt.prompt]
            row["agrees"] = same_answer(answer, row["local"])
            report.compared += 1
            report.agree += row["agrees"]
        report.rows.append(row)
    if report_dir is not None:
        report.saved = save(report, report_dir)
    return report


def save(report: EndpointReport, folder: Path) -> Path:
    """``folder/swiftkit-eval-endpoint.json`` and its Markdown copy (every prompt, answer and verdict)."""
    path = Path(folder) / EVAL_ENDPOINT_REPORT
    atomic_write_json(path, report.to_json())
    notes = [f"Endpoint: {report.url}, model: {report.model}", ""]
    if report.local is not None:
        notes.append(f"Compared with the local report {report.local.path}.")
    atomic_write_text(
        path.with_suffix(".md"),
        verdicts.markdown("swiftkit eval --endpoint", table(report), report.rows, verdicts.SERVED, notes),
    )
    return path


def local_side(local: LocalReport, name: str) -> Side:
    """The local report's scores for ``name`` (base or adapter); degenerate answers counted from its answers."""
    d = local.scores.get(name) or {}
    answers = local.base if name == "base" else local.adapter
    return Side(
        int(d.get("identity_pass", 0)),
        int(d.get("identity_total", 0)),
        int(d.get("polluted", 0)),
        int(d.get("general_total", 0)),
        sum(degenerate(a) for a in answers.values()),
    )


def table(report: EndpointReport) -> str:
    """Served scores, next to the local report's base and adapter scores when there is one."""
    columns = [("served", report.served)]
    if report.local is not None:
        columns = [(f"{n} (local)", local_side(report.local, n)) for n in ("base", "adapter")] + columns
    lines = [
        f"{'':24}" + "".join(f"{name:>16}" for name, _ in columns),
        f"{'identity pass rate':24}" + "".join(f"{_pct(s.identity_pass, s.identity_total):>16}" for _, s in columns),
        f"{'pollution rate':24}" + "".join(f"{_pct(s.polluted, s.general_total):>16}" for _, s in columns),
        f"{'degenerate answers':24}" + "".join(f"{_pct(s.degenerate, s.answers_total):>16}" for _, s in columns),
    ]
    if report.local is not None:
        lines.append(f"agreement with the local adapter's answers: {_pct(report.agree, report.compared)}")
    return "\n".join(lines)


def _pct(n: int, total: int) -> str:
    return f"{n}/{total} {100 * n / total:5.1f}%" if total else "-"
