"""Closed windows written straight into the report's kept history, with no broker or daemon.

The report reads only Redis (:mod:`monitor.report.history`), so its size, speed and
render time can be measured on hundreds of windows without streaming them: each window
here is counted on the reference's layout and judged by the same pure function the
evaluator runs, then kept as the evaluator keeps it. Used by the report's budget test
and ``benchmarks/report_size.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from detectors.evaluate import evaluate_window
from detectors.profile import NumericProfile
from detectors.window import WindowLayout
from monitor.config import Config
from monitor.evaluation import decision_settings
from monitor.report import history
from monitor.store import StateStore, StoredWindow


def keep_windows(
    store: StateStore,
    config: Config,
    layout: WindowLayout,
    windows: int,
    shifted: str,
    *,
    events: int = 1000,
    seed: int = 7,
) -> None:
    """``windows`` windows of ``events`` events drawn like the reference (numeric features
    normal with its mean and standard deviation, categories uniform over its own), the
    numeric feature ``shifted`` moved by one standard deviation in the second half; kept
    with their results, as the evaluator keeps them."""
    settings = decision_settings(config.models[layout.profile.model])
    rng = np.random.default_rng(seed)
    for window_id in range(windows):
        columns: dict[str, Any] = {}
        for signal in layout.profile.signals:
            if isinstance(signal, NumericProfile):
                values = rng.normal(signal.mean, signal.std, events)
                if signal.name == shifted and window_id >= windows // 2:
                    values += signal.std
                columns[signal.name] = values
            else:
                columns[signal.name] = signal.encode(list(rng.choice(signal.categories, events)))
        counts = layout.accumulate(columns, {})
        results = evaluate_window(layout, counts, settings)
        stored = StoredWindow(window_id, counts, window_id, window_id + 1, layout.profile.id, "1")
        history.record(store, layout.profile.model, stored, layout, results, keep=windows)
