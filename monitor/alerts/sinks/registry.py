"""Building the configured sinks, with their secrets read from the environment.

Secrets are read here, once, and never logged; a missing secret variable is a
``ConfigError`` naming the sink and the variable, raised when the daemon (or
``test-sink``) starts rather than at the first alert.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from monitor.alerts.plan import OutboxMessage
from monitor.alerts.sinks.alertmanager import alertmanager_render, alerts_endpoint
from monitor.alerts.sinks.base import Sink
from monitor.alerts.sinks.http import HttpSink
from monitor.alerts.sinks.kafka import KafkaSink
from monitor.alerts.sinks.pagerduty import EVENTS_URL, pagerduty_renderer
from monitor.alerts.sinks.retrain_http import (
    airflow_auth,
    airflow_body,
    github_body,
    github_headers,
)
from monitor.alerts.sinks.slack import slack_render
from monitor.alerts.sinks.webhook import webhook_renderer
from monitor.config import Config, SinkConfig
from monitor.errors import ConfigError
from monitor.source import producer_settings


def _secret(sink: SinkConfig, environ: Mapping[str, str], required: bool) -> str | None:
    if sink.secret_env is None:
        return None
    value = environ.get(sink.secret_env)
    if not value and required:
        raise ConfigError(
            [f"sinks.{sink.name}.secret_env: environment variable {sink.secret_env!r} is not set"]
        )
    return value or None


def build_sink(config: Config, sink: SinkConfig, environ: Mapping[str, str] | None = None) -> Sink:
    env = os.environ if environ is None else environ
    headers = dict(sink.headers)
    timeout = sink.timeout_seconds
    if sink.type == "kafka":
        assert sink.topic is not None  # the config validator insists
        return KafkaSink(sink.name, sink.topic, producer_settings(config), timeout)
    if sink.type == "webhook":
        assert sink.url is not None
        secret = _secret(sink, env, required=True)
        render = webhook_renderer(secret.encode() if secret else None)
        return HttpSink(sink.name, sink.url, render, timeout, headers)
    if sink.type == "slack":
        assert sink.url is not None
        return HttpSink(sink.name, sink.url, slack_render, timeout, headers)
    if sink.type == "pagerduty":
        routing_key = _secret(sink, env, required=True) or ""
        url = sink.url or EVENTS_URL
        return HttpSink(sink.name, url, pagerduty_renderer(routing_key), timeout, headers)
    if sink.type == "alertmanager":
        assert sink.url is not None
        url = alerts_endpoint(sink.url)
        return HttpSink(sink.name, url, alertmanager_render, timeout, headers)
    if sink.type == "airflow":
        assert sink.url is not None
        auth = airflow_auth(_secret(sink, env, required=True))

        def airflow(message: OutboxMessage) -> tuple[bytes, dict[str, str]]:
            return json.dumps(airflow_body(message)).encode(), {}

        return HttpSink(
            sink.name, sink.url, airflow, timeout, {**headers, **auth}, frozenset({409})
        )
    assert sink.url is not None  # github_actions
    assert sink.ref is not None
    token = _secret(sink, env, required=True) or ""
    ref = sink.ref

    def github(message: OutboxMessage) -> tuple[bytes, dict[str, str]]:
        return json.dumps(github_body(message, ref)).encode(), {}

    return HttpSink(sink.name, sink.url, github, timeout, {**headers, **github_headers(token)})


def build_sinks(config: Config, environ: Mapping[str, str] | None = None) -> dict[str, Sink]:
    return {name: build_sink(config, sink, environ) for name, sink in config.sinks.items()}
