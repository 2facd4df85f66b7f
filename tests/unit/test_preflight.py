"""`validate`'s warnings about a config that loads but will not do what it says (offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli import main
from monitor.config import Config, parse_config
from monitor.preflight import power_warnings, preflight, window_tests


def _config(window: int = 5000, **model: Any) -> Config:
    section: dict[str, Any] = {
        "reference": {"from_stream": 20000},
        "window": {"events": window},
        "features": {"a": "numeric", "b": "numeric", "c": "categorical"},
        "prediction": "numeric",
        **model,
    }
    return parse_config(
        {"kafka": {"bootstrap_servers": "127.0.0.1:9092"}, "models": {"fraud": section}},
        environ={},
    )


def _warnings(config: Config) -> list[str]:
    return list(power_warnings("fraud", config.models["fraud"]))


def test_a_large_enough_window_raises_no_power_warning() -> None:
    assert _warnings(_config(window=5000)) == []


def test_fewer_than_five_events_per_bin_is_warned_about_with_the_size_that_would_do() -> None:
    (bins, ks) = _warnings(_config(window=50))

    assert bins.startswith("models.fraud.window.events: 50 events spread over 50 reference bins")
    assert "windows of at least 250 events" in bins
    assert "lower reference.bins to 10" in bins
    assert "KS distance of 0.28 (alpha 0.01 over 13 tests)" in ks
    assert "windows of at least" in ks


def test_the_ks_warning_names_the_window_size_that_detects_a_shift_of_warn_size() -> None:
    # 4 signals x (distribution + missing_rate + unseen_rate) + correlation = 13 tests at
    # alpha 0.01: n >= ln(2 / (0.01 / 13)) / (2 * 0.1^2) = 393.1, so 394 events.
    model = _config(window=300, reference={"from_stream": 20000, "bins": 10}).models["fraud"]

    (ks,) = power_warnings("fraud", model)

    assert window_tests(model) == 13
    assert "windows of at least 394 events" in ks


def test_checkpoint_looks_raise_the_window_size_the_ks_warning_names() -> None:
    # Each of 8 looks at alpha / 8: n >= ln(2 / (0.01 / 8 / 13)) / (2 * 0.1^2) = 497.1.
    model = _config(
        window=450, reference={"from_stream": 20000, "bins": 10}, drift={"checkpoints": 8}
    ).models["fraud"]

    (ks,) = power_warnings("fraud", model)

    assert "(alpha 0.01 / 8 looks over 13 tests)" in ks
    assert "windows of at least 498 events" in ks


def test_event_time_windows_are_not_checked() -> None:
    timed = parse_config(
        {
            "models": {
                "fraud": {
                    "reference": {"from_stream": 100},
                    "window": {"seconds": 60},
                    "features": {"a": "numeric"},
                }
            }
        },
        environ={},
    ).models["fraud"]

    assert list(power_warnings("fraud", timed)) == []


def test_deprecated_rule_keys_load_and_are_warned_about_with_their_replacement() -> None:
    rule = {"drift": {"resolve_ratio": 0.8, "cooldown_seconds": 1800}}

    checked = preflight(_config(alert_rules=rule), environ={})

    assert checked.errors == []
    ratio, cooldown = checked.warnings
    assert ratio.startswith("models.fraud.alert_rules.drift.resolve_ratio: deprecated and ignored")
    assert "resolve_windows" in ratio
    assert cooldown.startswith("models.fraud.alert_rules.drift.cooldown_seconds: deprecated")


def test_validate_prints_the_power_warning_and_still_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": "127.0.0.1:9092"},
                "models": {
                    "fraud": {
                        "reference": {"from_stream": 1000},
                        "window": {"events": 50},
                        "features": {"a": "numeric"},
                    }
                },
            }
        )
    )

    assert main(["validate", "-c", str(path)]) == 0
    assert "warning: models.fraud.window.events: 50 events spread" in capsys.readouterr().err
