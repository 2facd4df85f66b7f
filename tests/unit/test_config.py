"""monitor.config: strict YAML config with environment substitution, frozen result.

Most tests start from ``_minimal()``, the smallest valid config, change one
thing, and look for the one problem message that change should cause.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.methods import DEFAULT_THRESHOLDS, Thresholds
from monitor.config import Config, load_config, parse_config
from monitor.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"


def _minimal() -> dict[str, Any]:
    return {
        "models": {
            "fraud": {
                "reference": {"path": "data/fraud-reference.jsonl"},
                "window": {"events": 5000},
                "features": {"amount": "numeric", "country": "categorical"},
            }
        }
    }


def _fraud(data: dict[str, Any]) -> dict[str, Any]:
    model: dict[str, Any] = data["models"]["fraud"]
    return model


def _problems(data: object, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, environ or {})
    return caught.value.problems


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE, environ={})

    fraud = config.models["fraud"]
    assert fraud.window.events == 5000
    assert fraud.reference.path == "data/fraud-reference.jsonl"
    assert fraud.prediction == "numeric"
    assert fraud.task == "binary"
    assert {"amount", "age", "country", "channel"} <= set(fraud.features)
    assert config.sinks["team-webhook"].url == "http://127.0.0.1:8080/alerts"
    assert fraud.alerts == ("team-webhook",)


def test_left_out_sections_take_their_defaults() -> None:
    config = parse_config(_minimal(), environ={})

    assert config.http.port == 9108
    assert config.redis.url == "redis://127.0.0.1:6379/0"
    assert config.kafka.bootstrap_servers is None
    assert config.logging.format == "json"
    assert dict(config.sinks) == {}
    assert config.models["fraud"].name == "fraud"


def test_env_variable_is_substituted_inside_a_string() -> None:
    data = _minimal() | {"redis": {"url": "redis://${REDIS_HOST}:6379/0"}}

    config = parse_config(data, environ={"REDIS_HOST": "cache.internal"})

    assert config.redis.url == "redis://cache.internal:6379/0"


def test_env_default_applies_when_variable_is_unset_or_empty() -> None:
    data = _minimal() | {"kafka": {"group_id": "${GROUP:-fallback}"}}

    assert parse_config(data, environ={}).kafka.group_id == "fallback"
    assert parse_config(data, environ={"GROUP": ""}).kafka.group_id == "fallback"
    assert parse_config(data, environ={"GROUP": "mine"}).kafka.group_id == "mine"


def test_unset_env_variable_without_default_is_reported_with_its_path() -> None:
    data = _minimal() | {"sinks": {"team": {"type": "webhook", "url": "${TEAM_URL}"}}}

    problems = _problems(data)

    assert len(problems) == 1
    assert problems[0].startswith("sinks.team.url: environment variable 'TEAM_URL' is not set")


def test_env_value_is_read_as_a_number_where_one_is_expected() -> None:
    data = _minimal() | {"http": {"port": "${HTTP_PORT:-9108}"}}

    assert parse_config(data, environ={"HTTP_PORT": "0"}).http.port == 0


def test_literal_string_is_not_read_as_a_number() -> None:
    data = _minimal() | {"http": {"port": "9108"}}

    assert _problems(data) == [
        "http.port: expected an integer between 0 and 65535, got a string ('9108')"
    ]


def test_misspelt_key_is_reported_with_path_and_suggestion() -> None:
    data = _minimal()
    _fraud(data)["windw"] = _fraud(data).pop("window")

    problems = _problems(data)

    assert "models.fraud.windw: unknown key; did you mean 'window'?" in problems


def test_unknown_key_without_a_near_match_lists_the_valid_keys() -> None:
    data = _minimal() | {"http": {"zzz": 1}}

    (problem,) = _problems(data)

    assert problem == "http.zzz: unknown key; expected one of 'host', 'port'"


def test_wrong_type_names_path_and_expected_type() -> None:
    data = _minimal()
    _fraud(data)["window"] = {"events": "many"}

    problems = _problems(data)

    assert problems == [
        "models.fraud.window.events: expected an integer of at least 1, got a string ('many')"
    ]


def test_boolean_is_not_accepted_as_an_integer() -> None:
    data = _minimal() | {"http": {"port": True}}

    assert _problems(data) == [
        "http.port: expected an integer between 0 and 65535, got a boolean (true)"
    ]


def test_integer_is_accepted_where_a_number_is_expected() -> None:
    data = _minimal()
    _fraud(data)["window"] = {"seconds": 300}

    window = parse_config(data, environ={}).models["fraud"].window

    assert window.seconds == 300.0
    assert isinstance(window.seconds, float)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("kafka", "batch_size", 0, "kafka.batch_size: expected an integer between 1 and 1000000"),
        ("kafka", "batch_timeout_ms", 60_001, "kafka.batch_timeout_ms: expected an integer"),
        ("http", "port", 65_536, "http.port: expected an integer between 0 and 65535"),
        ("redis", "history_size", 0, "redis.history_size: expected an integer of at least 1"),
        ("redis", "url", "http://x", "redis.url: expected a URL starting with redis://"),
        ("redis", "key_prefix", "a{b}", "redis.key_prefix: must not contain '{' or '}'"),
    ],
)
def test_out_of_range_value_is_reported_with_path_and_range(
    section: str, key: str, value: object, expected: str
) -> None:
    data = _minimal() | {section: {key: value}}

    (problem,) = _problems(data)

    assert problem.startswith(expected)


def test_alpha_must_be_strictly_between_zero_and_one() -> None:
    data = _minimal()
    _fraud(data)["drift"] = {"alpha": 1}

    assert _problems(data) == [
        "models.fraud.drift.alpha: expected a number strictly between 0 and 1, got 1"
    ]


def test_every_error_is_reported_at_once() -> None:
    data = _minimal() | {"http": {"port": -1}, "logging": {"level": "LOUD"}}
    _fraud(data)["features"]["age"] = "numerc"
    _fraud(data)["reference"]["bins"] = 2

    problems = _problems(data)

    assert [p.split(":")[0] for p in problems] == [
        "http.port",
        "logging.level",
        "models.fraud.reference.bins",
        "models.fraud.features.age",
    ]


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ({}, "models.fraud.window: needs either 'events' or 'seconds'"),
        (
            {"events": 10, "seconds": 60},
            "models.fraud.window: 'events' and 'seconds' exclude each other; keep one",
        ),
    ],
)
def test_window_needs_exactly_one_of_events_and_seconds(
    window: dict[str, Any], expected: str
) -> None:
    data = _minimal()
    _fraud(data)["window"] = window

    assert _problems(data) == [expected]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ({"bins": 10}, "models.fraud.reference: needs either 'path' or 'from_stream'"),
        (
            {"path": "ref.csv", "from_stream": 1000},
            "models.fraud.reference: 'path' and 'from_stream' exclude each other; keep one",
        ),
    ],
)
def test_reference_needs_exactly_one_of_path_and_from_stream(
    reference: dict[str, Any], expected: str
) -> None:
    data = _minimal()
    _fraud(data)["reference"] = reference

    assert _problems(data) == [expected]


def test_lateness_on_a_count_window_is_rejected() -> None:
    data = _minimal()
    _fraud(data)["window"] = {"events": 100, "allowed_lateness_seconds": 5}

    assert _problems(data) == [
        "models.fraud.window.allowed_lateness_seconds: "
        "only applies to event-time windows ('seconds')"
    ]


def test_missing_window_is_reported_as_required() -> None:
    data = _minimal()
    del _fraud(data)["window"]

    assert _problems(data) == ["models.fraud.window: required key missing"]


def test_models_section_is_required_and_not_empty() -> None:
    assert _problems({}) == ["models: required key missing"]
    assert _problems({"models": {}}) == ["models: needs at least one entry"]


def test_prediction_is_not_allowed_as_a_feature_name() -> None:
    data = _minimal()
    _fraud(data)["features"]["prediction"] = "numeric"

    (problem,) = _problems(data)

    assert problem.startswith("models.fraud.features.prediction: 'prediction' is not a feature")


def test_alert_naming_an_unknown_sink_is_reported_with_its_index() -> None:
    data = _minimal() | {"sinks": {"team-webhook": {"type": "webhook", "url": "http://x/a"}}}
    _fraud(data)["alerts"] = ["team-webhook", "team-webhok"]

    assert _problems(data) == [
        "models.fraud.alerts[1]: unknown sink 'team-webhok'; did you mean 'team-webhook'?"
    ]


def test_kafka_sink_requires_a_topic_and_refuses_a_url() -> None:
    data = _minimal() | {"sinks": {"bus": {"type": "kafka", "url": "http://x/a"}}}

    assert _problems(data) == [
        "sinks.bus.topic: required for kafka sinks",
        "sinks.bus.url: does not apply to kafka sinks (they use 'topic')",
    ]


def test_consumer_property_owned_by_the_daemon_is_rejected() -> None:
    data = _minimal() | {"kafka": {"consumer": {"enable.auto.commit": True}}}

    (problem,) = _problems(data)

    assert problem.startswith('kafka.consumer["enable.auto.commit"]: the daemon commits')


def test_consumer_properties_pass_through_verbatim() -> None:
    data = _minimal() | {"kafka": {"consumer": {"session.timeout.ms": 6000, "debug": "all"}}}

    consumer = parse_config(data, environ={}).kafka.consumer

    assert dict(consumer) == {"session.timeout.ms": 6000, "debug": "all"}


def test_thresholds_merge_over_the_defaults() -> None:
    data = _minimal()
    _fraud(data)["drift"] = {
        "thresholds": {"psi": {"warn": 0.2, "critical": 0.4}, "ks": {"critical": 0.5}}
    }

    thresholds = parse_config(data, environ={}).models["fraud"].drift.thresholds

    assert thresholds["psi"] == Thresholds(0.2, 0.4)
    assert thresholds["ks"] == Thresholds(DEFAULT_THRESHOLDS["ks"].warn, 0.5)
    assert thresholds["chi2"] == DEFAULT_THRESHOLDS["chi2"]
    assert set(thresholds) == set(DEFAULT_THRESHOLDS)


def test_warn_above_critical_is_rejected() -> None:
    data = _minimal()
    _fraud(data)["drift"] = {"thresholds": {"psi": {"warn": 0.5, "critical": 0.3}}}

    assert _problems(data) == [
        "models.fraud.drift.thresholds.psi: warn (0.5) must not be above critical (0.3)"
    ]


def test_unknown_method_is_reported_with_suggestion() -> None:
    data = _minimal()
    _fraud(data)["drift"] = {"numeric_methods": ["psi", "kss"], "thresholds": {"chi": {}}}

    assert _problems(data) == [
        "models.fraud.drift.numeric_methods[1]: unknown method 'kss'; did you mean 'ks'?",
        "models.fraud.drift.thresholds.chi: unknown method; did you mean 'chi2'?",
    ]


def test_yaml_syntax_error_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("models:\n  fraud: [unclosed\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})

    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: line 3, column 1: ")


def test_duplicate_yaml_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("http:\n  port: 1\n  port: 2\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})

    assert caught.value.problems == [f"{path}: line 3, column 3: duplicate key 'port'"]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})

    assert caught.value.problems == [f"{path}: no such file"]


def test_config_attributes_cannot_be_assigned() -> None:
    config = parse_config(_minimal(), environ={})

    with pytest.raises(dataclasses.FrozenInstanceError):
        config.http.port = 1  # type: ignore[misc]


def test_config_mappings_cannot_be_changed() -> None:
    config = parse_config(_minimal(), environ={})

    with pytest.raises(TypeError):
        config.models["fraud"].features["new"] = "numeric"  # type: ignore[index]


_KEYS = st.sampled_from(
    ["models", "fraud", "kafka", "http", "port", "reference", "path", "window", "events",
     "seconds", "features", "amount", "drift", "thresholds", "psi", "warn", "sinks", "type",
     "url", "alerts", "consumer"]
)  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["numeric", "categorical", "webhook", "x.csv", "${X}", "${X:-3}"])
)
_JSON_LIKE = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(_KEYS | st.text(max_size=6) | st.integers(), children, max_size=5)
    ),
    max_leaves=30,
)


_EXAMPLE_DATA = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def _key_paths(tree: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(tree, dict):
        return []
    paths = []
    for key, value in tree.items():
        paths.append((*prefix, key))
        paths.extend(_key_paths(value, (*prefix, key)))
    return paths


@st.composite
def _example_with_subtrees_replaced(draw: st.DrawFn) -> object:
    """The example config with a few values swapped for arbitrary data, so that
    the property below also reaches the deep sections, not just the top level."""
    data = copy.deepcopy(_EXAMPLE_DATA)
    for path in draw(st.lists(st.sampled_from(_key_paths(data)), min_size=1, max_size=3)):
        parent = data
        for key in path[:-1]:  # an earlier replacement may have cut this path short
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent[path[-1]] = draw(_JSON_LIKE)
    return data


@settings(max_examples=300, deadline=None)
@given(data=_JSON_LIKE | _example_with_subtrees_replaced())
def test_arbitrary_data_gives_a_config_or_a_config_error(data: object) -> None:
    outcome: object
    try:
        outcome = parse_config(data, environ={})
    except ConfigError as exc:
        outcome = exc
    assert isinstance(outcome, Config) or (isinstance(outcome, ConfigError) and outcome.problems)


# --------------------------------------------------------------------------- alerting


def _with_sinks(**sinks: dict[str, Any]) -> dict[str, Any]:
    return _minimal() | {"sinks": {name: dict(sink) for name, sink in sinks.items()}}


def test_alert_rules_default_to_one_per_signal_rule_over_everything() -> None:
    model = parse_config(_minimal(), environ={}).models["fraud"]

    (rule,) = model.alert_rules.values()
    assert rule.name == "drift"
    assert rule.grouping == "signal"
    assert (rule.signals, rule.methods) == ((), ())
    assert model.retrain is None


def test_alert_rule_naming_an_unknown_signal_is_reported() -> None:
    data = _minimal()
    _fraud(data)["alert_rules"] = {"drift": {"signals": ["amout"]}}

    assert _problems(data) == [
        "models.fraud.alert_rules.drift.signals[0]: unknown signal 'amout'; did you mean 'amount'?"
    ]


def test_alert_rule_level_below_the_tests_own_is_rejected() -> None:
    data = _minimal()
    _fraud(data)["alert_rules"] = {"drift": {"thresholds": {"psi": {"warn": 0.05}}}}

    (problem,) = _problems(data)

    assert problem.startswith(
        "models.fraud.alert_rules.drift.thresholds.psi.warn: 0.05 is below the drift test's"
    )


def test_two_per_signal_rules_over_the_same_signals_are_rejected() -> None:
    data = _minimal()
    _fraud(data)["alert_rules"] = {"a": {}, "b": {"methods": ["psi"]}}

    (problem,) = _problems(data)

    assert problem.startswith("models.fraud.alert_rules.b: watches the same signals")


def test_alert_route_naming_an_unknown_sink_is_reported() -> None:
    data = _with_sinks(pager={"type": "pagerduty", "secret_env": "PD_KEY"})
    _fraud(data)["alert_routes"] = [{"severities": ["critical"], "sinks": ["pagr"]}]

    assert _problems(data) == [
        "models.fraud.alert_routes[0].sinks[0]: unknown sink 'pagr'; did you mean 'pager'?"
    ]


def test_retraining_cannot_go_to_a_chat_sink() -> None:
    data = _with_sinks(chat={"type": "slack", "url": "https://hooks.slack.com/x"})
    _fraud(data)["retrain"] = {"sinks": ["chat"]}

    (problem,) = _problems(data)

    assert problem.startswith("models.fraud.retrain.sinks[0]: sink 'chat' is of type slack")


def test_github_actions_sink_needs_a_token_and_a_ref() -> None:
    data = _with_sinks(gha={"type": "github_actions", "url": "https://api.github.com/x"})

    assert _problems(data) == [
        "sinks.gha.secret_env: required for github_actions sinks",
        "sinks.gha.ref: required for github_actions sinks",
    ]


def test_alerting_section_sets_retention_and_failover() -> None:
    data = _minimal() | {"alerting": {"audit_size": 500, "claim_idle_seconds": 5}}

    alerting = parse_config(data, environ={}).alerting

    assert (alerting.audit_size, alerting.claim_idle_seconds) == (500, 5.0)
    assert alerting.dead_letter_size == 10_000


def test_payload_maps_contract_field_names_to_the_producers_own() -> None:
    data = _minimal()
    data["payload"] = {"prediction_fields": {"ts": "timestamp"}, "label_fields": {"label": "y"}}
    payload = parse_config(data, environ={}).payload
    assert (payload.prediction_field("ts"), payload.prediction_field("model")) == (
        "timestamp",
        "model",
    )
    assert payload.label_field("label") == "y"


def test_payload_names_an_unknown_field_with_the_closest_one() -> None:
    data = _minimal()
    data["payload"] = {"prediction_fields": {"event-id": "id"}}
    assert _problems(data) == [
        "payload.prediction_fields.event-id: not an event field; did you mean 'event_id'?"
    ]


def test_payload_refuses_two_fields_read_from_one_name() -> None:
    data = _minimal()
    data["payload"] = {"label_fields": {"ts": "label"}}
    assert _problems(data) == ["payload.label_fields: label and ts would both be read from 'label'"]


def test_checkpoint_looks_are_refused_on_event_time_windows() -> None:
    data = _minimal()
    _fraud(data)["window"] = {"seconds": 60}
    _fraud(data)["drift"] = {"checkpoints": 4}

    assert _problems(data) == [
        "models.fraud.drift.checkpoints: only count windows (window.events) are looked at "
        "before they close"
    ]


def test_a_budget_needs_a_correction_over_the_windows_tests() -> None:
    data = _minimal()
    _fraud(data)["drift"] = {"false_alarms_per_week": 1, "correction": "none"}

    (problem,) = _problems(data)
    assert problem.startswith("models.fraud.drift.correction: a false-alarm budget needs")


# --------------------------------------------------------------------------- estimation


def _estimating(task: str | None = "binary", **estimation: Any) -> dict[str, Any]:
    data = _minimal()
    model = _fraud(data)
    model.update({"prediction": "numeric", "estimation": estimation})
    if task is not None:
        model["task"] = task
    return data


def test_estimation_left_out_estimates_nothing() -> None:
    assert not parse_config(_minimal(), environ={}).models["fraud"].estimates


def test_estimation_takes_the_tasks_default_metrics() -> None:
    binary = parse_config(_estimating(), environ={}).models["fraud"]

    assert binary.estimates
    assert binary.estimation is not None
    assert binary.estimation.metrics_for(binary.task) == ("accuracy", "roc_auc")


def test_estimation_can_be_kept_but_disabled() -> None:
    assert not parse_config(_estimating(enabled=False), environ={}).models["fraud"].estimates


def test_estimation_needs_a_task_it_can_estimate() -> None:
    assert _problems(_estimating(None)) == [
        "models.fraud.estimation: estimated performance needs task: binary (CBPE); the model "
        "has no task"
    ]
    assert _problems(_estimating("regression")) == [
        "models.fraud.estimation: estimated performance needs task: binary (CBPE); the model "
        "has task regression (regression is not estimated yet)"
    ]


def test_estimation_needs_a_numeric_prediction() -> None:
    data = _estimating()
    _fraud(data)["prediction"] = "categorical"

    assert _problems(data) == [
        "models.fraud.estimation: estimated performance needs a numeric prediction (the "
        "score, or the positive class's probability)"
    ]


def test_estimated_metric_unknown_for_the_task_names_the_closest() -> None:
    assert _problems(_estimating(metrics=["accuracy", "roc_acu"])) == [
        "models.fraud.estimation.metrics[1]: 'roc_acu' is not estimated for task binary; "
        "did you mean 'roc_auc'?"
    ]


def test_estimation_effects_and_staleness_are_checked() -> None:
    assert _problems(_estimating(min_effect=0.1, critical_effect=0.05)) == [
        "models.fraud.estimation.critical_effect: 0.05 is below min_effect (0.1)"
    ]
    problems = _problems(_estimating(min_effect=0, critical_effect=1.5, stale_windows=0, enabeld=1))
    assert any(p.startswith("models.fraud.estimation.min_effect:") for p in problems)
    assert any(p.startswith("models.fraud.estimation.critical_effect:") for p in problems)
    assert any(p.startswith("models.fraud.estimation.stale_windows:") for p in problems)
    assert "models.fraud.estimation.enabeld: unknown key; did you mean 'enabled'?" in problems


# --------------------------------------------------------------------------- model servers


def _served(payload_format: str = "open-inference", **payload: Any) -> dict[str, Any]:
    data = _minimal()
    data["payload"] = {"format": payload_format, **payload}
    return data


def test_payload_format_defaults_to_drift_monitor_events() -> None:
    payload = parse_config(_minimal(), environ={}).payload

    assert (payload.format, payload.from_model_server) == ("drift-monitor", False)


def test_a_model_server_format_takes_kserve_defaults_and_a_model_mapping() -> None:
    data = _served()
    _fraud(data)["payload"] = {"tensors": {"input-0": ["amount", "age"]}, "output": "predict"}

    config = parse_config(data, environ={})

    assert config.payload.model_attribute == "inferenceservicename"
    assert config.payload.request_type == "org.kubeflow.serving.inference.request"
    assert (config.payload.pairing.ttl_seconds, config.payload.pairing.max_pending) == (
        3600.0,
        100_000,
    )
    assert config.models["fraud"].payload.tensors == {"input-0": ("amount", "age")}
    assert config.models["fraud"].payload.output == "predict"


def test_an_unknown_payload_format_names_the_closest() -> None:
    assert _problems(_served("open-inferense")) == [
        "payload.format: unknown value 'open-inferense'; did you mean 'open-inference'?"
    ]


def test_model_server_keys_are_refused_for_drift_monitor_events() -> None:
    data = _minimal()
    data["payload"] = {"model_attribute": "model", "pairing": {"ttl_seconds": 60}}

    assert _problems(data) == [
        "payload.model_attribute: only applies to format kserve-cloudevents or open-inference",
        "payload.pairing: only applies to format kserve-cloudevents or open-inference",
    ]


def test_field_renames_are_refused_for_a_model_servers_payload() -> None:
    (problem,) = _problems(_served(prediction_fields={"ts": "time"}))

    assert problem.startswith("payload.prediction_fields: only applies to format drift-monitor")


def test_request_and_response_types_must_differ() -> None:
    data = _served(request_type="inference", response_type="inference")

    assert _problems(data) == ["payload.response_type: must differ from request_type"]


def test_a_models_payload_mapping_needs_a_model_servers_format() -> None:
    data = _minimal()
    _fraud(data)["payload"] = {"columns": ["amount", "country"]}

    (problem,) = _problems(data)
    assert problem.startswith("models.fraud.payload: only applies to payload.format")


def test_v1_payloads_have_no_tensors_to_name() -> None:
    data = _served("kserve-cloudevents")
    _fraud(data)["payload"] = {"tensors": {"x": ["amount"]}}

    assert _problems(data) == [
        "models.fraud.payload.tensors: V1 payloads have no tensors; use 'columns'"
    ]


def test_probability_classes_must_hold_the_positive_class_of_a_numeric_prediction() -> None:
    data = _served()
    _fraud(data)["prediction"] = "numeric"
    _fraud(data)["payload"] = {"classes": ["legit", "fraud"]}

    (problem,) = _problems(data)
    assert problem.startswith("models.fraud.payload.classes: the positive class '1' is not among")

    _fraud(data)["positive_class"] = "fraud"
    assert parse_config(data, environ={}).models["fraud"].positive_class == "fraud"


def test_positive_class_still_needs_binary_for_a_categorical_prediction() -> None:
    data = _minimal()
    _fraud(data)["prediction"] = "categorical"
    _fraud(data)["positive_class"] = "yes"

    assert _problems(data) == ["models.fraud.positive_class: only applies to task: binary"]


def test_pairing_bounds_are_checked() -> None:
    data = _served(pairing={"ttl_seconds": 0, "max_pending": 0})

    assert _problems(data) == [
        "payload.pairing.ttl_seconds: expected a number greater than 0, got 0",
        "payload.pairing.max_pending: expected an integer of at least 1, got 0",
    ]


def test_column_names_must_be_distinct() -> None:
    data = _served("kserve-cloudevents")
    _fraud(data)["payload"] = {"columns": ["amount", "amount"]}

    assert _problems(data) == ["models.fraud.payload.columns[1]: 'amount' is listed twice"]
