"""Where a run's numbers come from, as results.json records it: versions, commit, device, options, weights."""
from __future__ import annotations

import json

from evalkit.report.html import cell, esc, table


def _weights(ident, prefix: str = "") -> list[tuple[str, str]]:
    """Every ``*sha256`` field anywhere in a metric's identity, with its path (weights, pose model, …)."""
    out = []
    if isinstance(ident, dict):
        for key, value in ident.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, str) and key.endswith("sha256"):
                out.append((name, value))
            else:
                out += _weights(value, name)
    return out


def _text(value) -> str:
    """Settings as results.json writes them (JSON: null, false, lists), strings as they are."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _pairs(title: str, table_id: str, items: list[tuple[str, object]]) -> str:
    rows = ["<tr>" + cell(k, cls="t") + cell(v, text="—" if v is None else str(v), cls="t") + "</tr>" for k, v in items]
    return f"<h3>{esc(title)}</h3>" + table(table_id, ["name", "value"], rows, text_columns=2)


def provenance_html(record: dict) -> str:
    run = [("evalkit", record.get("evalkit_version")), ("git commit", record.get("git_commit")),
           ("created", record.get("created")), ("device", record.get("device")),
           ("results schema", record.get("schema"))]
    weights = [(f"{metric}: {path}", sha) for metric, ident in record.get("metrics", {}).items()
               for path, sha in _weights(ident)]
    settings = [(k, _text(v)) for k, v in record.get("settings", {}).items()]
    metric_settings = [(f"{m} ({ident.get('preset')})", json.dumps(ident.get("settings", {}), sort_keys=True))
                       for m, ident in record.get("metrics", {}).items()]
    parts = [_pairs("Run", "prov-run", run), _pairs("Weights (sha256)", "prov-weights", weights),
             _pairs("Options", "prov-settings", settings), _pairs("Metric settings", "prov-metrics", metric_settings),
             _pairs("Package versions", "prov-versions", list(record.get("versions", {}).items()))]
    if record.get("run"):
        gen = [(k, _text(v)) for k, v in record["run"].items()]
        parts.append(_pairs("Generation (run-model)", "prov-generation", gen))
    return "".join(parts)
