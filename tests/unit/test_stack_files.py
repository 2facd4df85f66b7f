"""The shipped stack files: accepted by their own tools and consistent with each other.

That they query only metrics a running daemon exports is checked on a running daemon in
``tests/integration/test_stack_queries_are_exported.py``.

Docker cannot run here, so docker-compose.yml is checked by ``docker-compose config``
and by reading it; Prometheus, Alertmanager and their rules by promtool and amtool.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import load_config
from tests.stack_harness import (
    CONFIG_DIR,
    REPO,
    RULE_FILES,
    require_binary,
)

COMPOSE_FILE = REPO / "docker-compose.yml"
COMPOSE_CONFIG = CONFIG_DIR / "compose.yaml"
DASHBOARD = CONFIG_DIR / "grafana" / "dashboards" / "drift-monitor.json"
DATASOURCES = CONFIG_DIR / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = CONFIG_DIR / "grafana" / "provisioning" / "dashboards" / "drift-monitor.yml"

#: Series that Prometheus writes itself rather than scraping them from the daemon.
PROMETHEUS_SERIES = frozenset({"up", "ALERTS"})

#: What Grafana variables stand for when a dashboard query is checked as PromQL.
_GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$model": "fraud", "$signal": "num_3"}
_PROMQL_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right", "inf", "nan", "Inf", "NaN"}
)


def _run(*argv: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> str:
    """Run a tool; fail with its output unless it exits 0; return its stdout."""
    result = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert result.returncode == 0, f"{' '.join(argv)} exited {result.returncode}:\n" + (
        result.stdout + result.stderr
    )
    return result.stdout


def metric_names(expr: str) -> set[str]:
    """Names of the series a PromQL expression selects (not functions, labels or keywords)."""
    selector = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", expr, re.DOTALL)
    if selector:  # Grafana's label_values(selector, label): only the selector is PromQL
        expr = selector.group(1)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("(") or match.group() in _PROMQL_KEYWORDS:
            continue
        names.add(match.group())
    return names


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _dashboard_queries() -> list[str]:
    dashboard = _dashboard()
    queries = [t["expr"] for p in _panels(dashboard) for t in p.get("targets", [])]
    variables = dashboard["templating"]["list"]
    return queries + [v["query"]["query"] for v in variables if v["type"] == "query"]


def _rule_expressions() -> list[str]:
    return [
        rule["expr"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def _recorded_names() -> set[str]:
    return {
        rule["record"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def _compose() -> dict[str, Any]:
    """docker-compose.yml as docker-compose resolves it (anchors merged, paths absolute)."""
    require_binary("docker-compose")
    resolved: dict[str, Any] = yaml.safe_load(
        _run("docker-compose", "-f", str(COMPOSE_FILE), "config")
    )
    return resolved


def _compose_env() -> dict[str, str]:
    """The monitor service's environment, with which config/compose.yaml is loaded."""
    environment: dict[str, str] = _compose()["services"]["monitor"]["environment"]
    return {k: str(v) for k, v in environment.items()}


# ------------------------------------------------------------------- Prometheus and Alertmanager


def test_promtool_accepts_the_prometheus_config_and_the_rule_files_it_loads() -> None:
    output = _run(require_binary("promtool"), "check", "config", "config/prometheus.yml")
    assert f"{len(RULE_FILES)} rule files found" in output


def test_promtool_accepts_every_rule_file() -> None:
    _run(require_binary("promtool"), "check", "rules", *map(str, RULE_FILES))


def test_shipped_rules_pass_their_promtool_unit_tests() -> None:
    tests = sorted((REPO / "tests" / "promtool").glob("*.test.yml"))
    assert {t.name for t in tests} == {f"{p.stem}.test.yml" for p in RULE_FILES}
    _run(require_binary("promtool"), "test", "rules", *(t.name for t in tests), cwd=tests[0].parent)


def test_amtool_accepts_the_alertmanager_config() -> None:
    _run(require_binary("amtool"), "check-config", "config/alertmanager.yml")


@pytest.mark.parametrize(
    ("severity", "receivers"),
    [("critical", "paging-webhook,team-webhook"), ("warning", "team-webhook")],
)
def test_alertmanager_pages_for_critical_alerts_and_tells_the_team_of_all(
    severity: str, receivers: str
) -> None:
    output = _run(
        require_binary("amtool"),
        "config",
        "routes",
        "test",
        "--config.file=config/alertmanager.yml",
        f"severity={severity}",
        "alertname=ModelDriftCritical",
    )
    assert output.strip() == receivers


def test_prometheus_scrapes_the_port_the_compose_monitor_listens_on() -> None:
    prometheus = yaml.safe_load((CONFIG_DIR / "prometheus.yml").read_text())
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "drift-monitor"]
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    port = load_config(COMPOSE_CONFIG, environ=_compose_env()).http.port
    assert targets == [f"monitor:{port}"]
    assert "monitor" in _compose()["services"]


# ----------------------------------------------------------------------------- docker-compose


def test_docker_compose_accepts_the_stack() -> None:
    _run(require_binary("docker-compose"), "-f", str(COMPOSE_FILE), "config", "-q")


def test_compose_images_are_pinned_to_versions() -> None:
    images = {name: s["image"] for name, s in _compose()["services"].items()}
    unpinned = {
        name: image
        for name, image in images.items()
        if ":" not in image or image.endswith(":latest")
    }
    assert unpinned == {}


def test_compose_bind_mounts_exist_in_the_repository() -> None:
    sources = [
        Path(volume.split(":", 1)[0])
        for service in _compose()["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith("/")
    ]
    assert sources
    assert [s for s in sources if not s.exists()] == []


def test_compose_monitor_config_is_valid() -> None:
    output = _run(
        sys.executable,
        "-m",
        "monitor",
        "validate",
        "-c",
        str(COMPOSE_CONFIG),
        env={**os.environ, **_compose_env()},
    )
    assert "valid" in output


def test_compose_creates_every_topic_the_monitor_config_names() -> None:
    kafka = load_config(COMPOSE_CONFIG, environ=_compose_env()).kafka
    script = "\n".join(_compose()["services"]["kafka-init"]["command"])
    created = set(re.findall(r"--create --if-not-exists --topic (\S+)", script))
    assert created == {kafka.predictions_topic, kafka.dead_letter_topic, kafka.labels_topic}


def test_compose_producer_command_fits_the_monitor_config() -> None:
    """The producer's own arguments, run for zero events: parsed, model matched, shift valid."""
    command = _compose()["services"]["producer"]["command"]
    assert command[0] == "produce-synthetic"
    arguments = [a for a in command if a != "/etc/drift-monitor/config.yaml"]
    config_at = arguments.index("-c") + 1
    arguments.insert(config_at, str(COMPOSE_CONFIG))
    _run(
        sys.executable,
        "-m",
        "monitor",
        *arguments,
        "--events",
        "0",
        env={**os.environ, **_compose_env(), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"},
    )


def test_dockerfile_copies_what_the_build_needs_and_dockerignore_lets_in() -> None:
    """Every COPY source is allowed into the context, and so is the readme pip needs."""
    dockerfile = (REPO / "Dockerfile").read_text()
    copied = {
        source
        for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, re.M)
        for source in line.split()[:-1]
    }
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert copied == allowed
    assert {"pyproject.toml", project["readme"], "monitor", "detectors"} <= copied


def test_dockerfile_healthcheck_reads_the_config_compose_mounts() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    (healthcheck,) = re.findall(r"^HEALTHCHECK .*?CMD (\[.*?\])$", dockerfile, re.M | re.S)
    argv = json.loads(healthcheck)
    mounted = [volume.split(":")[1] for volume in _compose()["services"]["monitor"]["volumes"]]
    assert argv[:2] == ["drift-monitor", "healthcheck"]
    assert argv[argv.index("-c") + 1] in mounted


# ------------------------------------------------------------------------------------ Grafana


def test_dashboard_refers_to_the_provisioned_datasource_only() -> None:
    provisioned = {d["uid"] for d in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    dashboard = _dashboard()
    used = {p["datasource"]["uid"] for p in _panels(dashboard) if "datasource" in p}
    used |= {t["datasource"]["uid"] for p in _panels(dashboard) for t in p.get("targets", [])}
    used |= {v["datasource"]["uid"] for v in dashboard["templating"]["list"]}
    assert used == provisioned


def test_grafana_loads_dashboards_from_the_directory_compose_mounts() -> None:
    (provider,) = yaml.safe_load(DASHBOARD_PROVIDERS.read_text())["providers"]
    mounts = dict(volume.split(":")[:2] for volume in _compose()["services"]["grafana"]["volumes"])
    assert mounts[str(DASHBOARD.parent)] == provider["options"]["path"]


def test_dashboard_shows_what_the_issue_asks_for() -> None:
    """Drift scores against thresholds, drifted signals, events/s, bad events, lag, alerts."""
    used = set().union(*map(metric_names, _dashboard_queries()))
    wanted = {
        "drift_monitor_drift_score",
        "drift_monitor_drift_threshold",
        "drift_monitor_drifted",
        "drift_monitor_drifted_signals",
        "drift_monitor_events_total",
        "drift_monitor_bad_events_total",
        "drift_monitor_consumer_lag",
        "ALERTS",
    }
    assert wanted <= used


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as the expression of a recording rule."""
    rules = []
    for i, query in enumerate(_dashboard_queries()):
        expr = re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", query)
        for variable, value in _GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"unknown Grafana variable in {query!r}"
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    _run(require_binary("promtool"), "check", "rules", str(path))


def test_metric_names_are_read_from_selectors_not_from_functions_labels_or_variables() -> None:
    expr = (
        'sum by (method) (rate(a_total{model="$model", x=~"b|c"}[$__rate_interval])) '
        "/ on (job) group_left () max without (le) (b_gauge offset 5m) > bool 1e3 "
        "and c:recorded:rule"
    )
    assert metric_names(expr) == {"a_total", "b_gauge", "c:recorded:rule"}
    assert metric_names('label_values(d_score{model="$model"}, signal)') == {"d_score"}
