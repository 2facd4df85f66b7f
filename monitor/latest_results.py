"""The stored form of a model's latest results, written when a window is recorded and
read back by ``StateStore.model_status``.

A result of the whole model is one hash field, ``signal/method``, holding its entry:
``SignalResult.to_dict`` with its alert ``kind``, its ``window`` and its ``reference_id``.
A segment's results are one field, ``@<segment>``, in columns: a segmented window has
thousands of results, and their entries as a JSON list repeat every key, the window
and the reference in each (1.08 MB a window of 20 segments against 0.31 MB in
columns). Its object holds the window and the reference once; ``kinds``, each
``[role, method, kind]`` (a result's kind follows from those within a segment);
``results``, each result's leading entry values as a row; ``no_drift``, each
result's level or null; ``named``, ``[position, facts]`` for the few results that
name pairs, values or an estimate. Read back, each row is the entry the list form
holds, key for key and in its order; the list form itself is still read (fields
written before stay until a window overwrites them) and still written for a segment
with a NaN no-drift level, which JSON holds as null, like a result without one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import msgspec

from detectors.evaluate import SignalResult, named_facts
from monitor import bulk_json
from monitor.alerts.rules import kind_of


def entry(
    result: SignalResult, kind: str, window: msgspec.Raw, reference_id: str
) -> dict[str, Any]:
    """A result as the latest results hold it (``window`` encoded once per window)."""
    out = result.to_dict()
    out["kind"], out["window"], out["reference_id"] = kind, window, reference_id
    return out


def segment_field(results: Sequence[SignalResult], window: msgspec.Raw, reference_id: str) -> str:
    """One segment's results in columns, each taken by a comprehension over the results
    rather than a dict made per result (a window of 20 segments has 2,840 of them)."""
    levels = [r.no_drift for r in results]
    if any(map(math.isnan, filter(None, levels))):  # filter: no None (nor 0.0) to test
        return bulk_json.encode_text([entry(r, kind_of(r), window, reference_id) for r in results])
    one_of_each = {(r.role, r.method): r for r in results}
    return bulk_json.encode_text(
        {
            "window": window,
            "reference_id": reference_id,
            "kinds": [[role, method, kind_of(r)] for (role, method), r in one_of_each.items()],
            "results": [r.row() for r in results],
            "no_drift": levels,
            "named": [
                [i, named_facts(r.attribution, r.values, r.estimate, None)]
                for i, r in enumerate(results)
                if r.attribution or r.values or r.estimate is not None
            ],
        }
    )


def segment_entries(name: str, value: bytes) -> dict[str, dict[str, Any]]:
    """The entries of field ``name`` (``@<segment>``) by ``signal/method@segment``, from
    its stored JSON in either form. The list form is read with the json module, as
    fields written before msgspec wrote them may hold a NaN; the columns, only ever
    written by msgspec, with its decoder (three times faster)."""
    if value.startswith(b"["):
        return {f"{e['signal']}/{e['method']}{name}": e for e in json.loads(value)}
    stored = bulk_json.decode(value)
    segment, window, reference_id = name[1:], stored["window"], stored["reference_id"]
    kinds = {(role, method): kind for role, method, kind in stored["kinds"]}
    named: dict[int, dict[str, Any]] = dict(stored["named"])
    entries = {}
    for i, (row, level) in enumerate(zip(stored["results"], stored["no_drift"], strict=True)):
        signal, role, method, score, p_value, statistic, warn, critical, drifted, severity = row
        out = {  # SignalResult.to_dict's keys, in its order
            "signal": signal,
            "role": role,
            "method": method,
            "score": score,
            "p_value": p_value,
            "statistic": statistic,
            "threshold": warn,
            "critical_threshold": critical,
            "drifted": drifted,
            "severity": severity,
        }
        if level is not None:
            out["no_drift"] = level
        if i in named:
            out.update(named[i])
        out["segment"], out["kind"] = segment, kinds[role, method]
        out["window"], out["reference_id"] = window, reference_id
        entries[f"{signal}/{method}{name}"] = out
    return entries
