"""Evidently's data drift preset over windows that benchmarks/wide.py wrote: its worker.

Run by wide.py in a separate virtualenv (Evidently is a benchmark dependency only)::

    .venv-evidently/bin/python benchmarks/wide_evidently.py DIR

``DIR`` holds ``reference.parquet``, ``window-*.parquet`` (one per window) and
``columns.json`` (``{"numeric": [...], "categorical": [...]}``). Each window is read
(untimed), then ``Report([DataDriftPreset()]).run(window, reference)`` is timed: only
Evidently's own computation counts, which favours it (drift-monitor's figure includes
Kafka and JSON decoding). Prints one JSON object on stdout: windows, events, seconds,
Evidently's version, the process's peak RSS, and the drifted columns of each window.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


def drifted_columns(snapshot: Any) -> list[str]:
    """Columns the preset called drifted, from the snapshot's dict (layout varies by version)."""
    found: list[str] = []
    for metric in snapshot.dict().get("metrics", []):
        name = str(metric.get("metric_name", metric.get("metric_id", "")))
        if "ValueDrift" not in name:
            continue
        config = metric.get("config", {})
        value = metric.get("value")
        threshold = config.get("threshold")
        method = str(config.get("method", ""))
        if not isinstance(value, int | float) or threshold is None:
            continue
        # p-value tests drift below their threshold, distances above it.
        p_value_test = "p_value" in method or "test" in method
        drifted = value < threshold if p_value_test else value >= threshold
        if drifted:
            found.append(str(config.get("column")))
    return found


def main() -> int:
    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    directory = Path(sys.argv[1])
    columns = json.loads((directory / "columns.json").read_text())
    definition = DataDefinition(
        numerical_columns=columns["numeric"], categorical_columns=columns["categorical"]
    )
    reference = Dataset.from_pandas(
        pd.read_parquet(directory / "reference.parquet"), data_definition=definition
    )
    seconds, events, drifted = 0.0, 0, []
    windows = sorted(directory.glob("window-*.parquet"))
    for path in windows:
        frame = pd.read_parquet(path)
        current = Dataset.from_pandas(frame, data_definition=definition)
        started = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(current, reference)
        seconds += time.perf_counter() - started
        events += len(frame)
        drifted.append({"window": path.stem, "drifted": drifted_columns(snapshot)})
    print(
        json.dumps(
            {
                "version": evidently.__version__,
                "windows": len(windows),
                "events": events,
                "seconds": seconds,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "drifted": drifted,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
