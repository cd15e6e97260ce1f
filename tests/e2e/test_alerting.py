"""The alert rules and the dashboard in deploy/: valid, tested, and about real series.

`promtool` (Debian's `prometheus` package) checks the rules and the example
configuration and runs `deploy/prometheus/alerts.test.yml`, where every alert has cases
that fire and cases that stay silent. Every series a rule or a panel names must be one
that a running `homeschool-bot run` exports on `/metrics` (read from a real scrape), or
one that Prometheus makes itself (`up`) or the blackbox exporter probing `/readyz`
(`probe_success`), so a renamed metric cannot leave an alert that never fires.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from prometheus_client.parser import text_string_to_metric_families

from bot.signing import signed_headers
from tests.conftest import DATA_KEY
from tests.factories import signal_payload
from tests.process import BotProcess, clean_env, free_port, http

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "alerts.test.yml"
CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "homeschool-bot.json"
SECRET = "alerting-signal-secret"
# Series that come from Prometheus or its blackbox exporter, not from the service.
NOT_FROM_THE_SERVICE = {"up", "probe_success"}
PROMQL_WORDS = {
    "and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left",
    "group_right", "offset", "sum", "min", "max", "avg", "count", "stddev", "topk",
    "bottomk", "quantile", "rate", "irate", "increase", "delta", "idelta", "deriv",
    "histogram_quantile", "abs", "absent", "clamp_min", "clamp_max", "changes", "resets",
    "time", "vector", "scalar", "avg_over_time", "max_over_time", "min_over_time",
    "sum_over_time", "count_over_time", "label_replace", "label_join", "le",
}  # fmt: skip


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not on PATH: install Debian's `prometheus` package")
    return found


@pytest.mark.parametrize(
    "args",
    [("check", "rules", RULES), ("test", "rules", RULE_TESTS), ("check", "config", CONFIG)],
    ids=["check-rules", "test-rules", "check-config"],
)
def test_promtool(args: tuple[str, str, Path]) -> None:
    done = subprocess.run(
        [promtool(), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def rule_expressions() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


def panel_expressions() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(panel["title"], target["expr"]) for panel in panels for target in panel["targets"]]


def series_in(expr: str) -> set[str]:
    """The metric names of a PromQL expression (strings, matchers, ranges, keywords out)."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\boffset\s+\w+", " ", expr)
    expr = re.sub(r"\b\d+(\.\d+)?([eE][+-]?\d+)?\b", " ", expr)
    return set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)) - PROMQL_WORDS


def exact_matchers(expr: str) -> Iterator[tuple[str, str, str]]:
    """(metric, label, value) of each `label="value"` matcher."""
    for metric, matchers in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", expr):
        for label, value in re.findall(r'(\w+)\s*=\s*"([^"]*)"', matchers):
            yield metric, label, value


def test_the_name_reader_sees_every_series_and_nothing_else() -> None:
    expr = (
        'sum by (channel) (increase(homeschool_messages_total{result="dead"}[15m])) > 0 and '
        "max(homeschool_outbox_backlog offset 1h) > 0.5 * histogram_quantile(0.9, "
        "rate(homeschool_update_handling_seconds_bucket[$__rate_interval]))"
    )
    assert series_in(expr) == {
        "homeschool_messages_total",
        "homeschool_outbox_backlog",
        "homeschool_update_handling_seconds_bucket",
    }
    assert list(exact_matchers(expr)) == [("homeschool_messages_total", "result", "dead")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, str]]]:
    """Series name -> label sets, from one scrape of a real `run` that took a signal."""
    return asyncio.run(_scrape(tmp_path_factory.mktemp("alerting")))


async def _scrape(folder: Path) -> dict[str, list[dict[str, str]]]:
    env = clean_env(HTTP_PORT=str(free_port()), SIGNAL_SECRETS=SECRET, DATA_KEY=DATA_KEY)
    with BotProcess(folder, env) as service:
        await service.start()
        body = json.dumps(signal_payload()).encode()
        headers = {"Content-Type": "application/json"}
        headers |= signed_headers(SECRET.encode(), "POST", "/api/v1/signals/vkk", body, time.time())
        status, _ = await asyncio.to_thread(
            http, f"{service.base_url}/api/v1/signals/vkk", body, headers
        )
        assert status == 202
        status, text = await asyncio.to_thread(http, f"{service.base_url}/metrics")
        assert status == 200
        assert await asyncio.to_thread(service.stop) == 0
    series: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for name in _declared(family.name, family.type):
            series.setdefault(name, [])
        for sample in family.samples:
            series.setdefault(sample.name, []).append(dict(sample.labels))
    return series


def _declared(name: str, kind: str) -> list[str]:
    """The series a family declares even before it has a sample (labelled counters)."""
    if kind == "counter":
        return [f"{name}_total"]
    if kind == "histogram":
        return [f"{name}_bucket", f"{name}_sum", f"{name}_count"]
    return [name]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["alert rules", "dashboard"])
def test_rules_and_panels_name_only_series_the_service_exports(
    exported: dict[str, list[dict[str, str]]], source: str
) -> None:
    expressions = rule_expressions() if source == "alert rules" else panel_expressions()
    named = {name for _, expr in expressions for name in series_in(expr)}
    unknown = {
        f"{where}: {name}"
        for where, expr in expressions
        for name in series_in(expr) - set(exported) - NOT_FROM_THE_SERVICE
    }
    missing_labels = {
        f"{where}: {metric}{{{label}={value!r}}}"
        for where, expr in expressions
        for metric, label, value in exact_matchers(expr)
        if metric in exported and not any(labels.get(label) == value for labels in exported[metric])
    }

    assert len(named - NOT_FROM_THE_SERVICE) >= 6, named  # the reader found the series
    assert unknown == set()
    assert missing_labels == set()
