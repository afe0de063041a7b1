"""Every series the Prometheus rules and the Grafana dashboard read is one our services export.

The names come from parsing each PromQL expression (promql-parser); the registered names come from
``prometheus_client.REGISTRY`` after importing every service's metrics module, the runtime's shared
metrics and the provider-slot metrics of each runner that takes provider slots.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from medialab_contracts.modes import Provider, Runner
from medialab_devstack.stack import SERVICE_MODULES
from medialab_runtime.slots import slot_metrics
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
RULE_FILES = sorted((ROOT / "k8s" / "prometheus").glob("*.rules.yml"))
DASHBOARD = ROOT / "k8s" / "grafana" / "medialab.json"
# Series Prometheus makes itself for every scrape target.
PROMETHEUS_SERIES = {"up"}
# Grafana's interval variables, given a value so the expressions parse.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def service_source(module: str) -> Path:
    (path,) = (ROOT / "services").glob(f"*/src/{module}")
    return path


def import_service_metrics() -> None:
    importlib.import_module("medialab_runtime.metrics")
    for module in SERVICE_MODULES.values():
        if (service_source(module) / "metrics.py").exists():
            importlib.import_module(f"{module}.metrics")
    # A runner that takes provider slots registers medialab_<provider>_slot* when it opens its pool.
    for runner in set(Runner) & set(Provider):
        module = SERVICE_MODULES.get(f"{runner}-runner")
        if module and any("SlotPool.open(" in f.read_text() for f in service_source(module).rglob("*.py")):
            slot_metrics(runner.value)


def registered_series() -> set[str]:
    import_service_metrics()
    names: set[str] = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def selector_names(expr: str) -> set[str]:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"selector without a metric name in {expr!r}"
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    return names


def rules() -> Iterator[dict[str, Any]]:
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            yield from group["rules"]


def dashboard_panels() -> Iterator[dict[str, Any]]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels", []))

    yield from walk(json.loads(DASHBOARD.read_text())["panels"])


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in dashboard_panels() for target in panel.get("targets", [])]


def recorded() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def assert_exported(names: set[str], where: str) -> None:
    exported = registered_series() | PROMETHEUS_SERIES | recorded()
    missing = sorted(names - exported)
    assert not missing, f"{where} use series no service exports: {missing}"


def test_rule_files_read_only_exported_metrics() -> None:
    used = {name for rule in rules() for name in selector_names(rule["expr"])}
    assert len(used) >= 20
    assert_exported(used, "Prometheus rules")


def test_dashboard_reads_only_exported_metrics() -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 30
    used = {name for expr in exprs for name in selector_names(expr)}
    assert_exported(used, "the Grafana dashboard")


def test_recorded_series_follow_the_naming_convention_and_are_used() -> None:
    names = recorded()
    assert all(re.fullmatch(r"medialab:[a-z0-9_]+:[a-z0-9_]+", name) for name in names), names
    alerts = [rule for rule in rules() if "alert" in rule]
    assert alerts
    for alert in alerts:
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"], alert["alert"]


def test_the_check_catches_an_unknown_metric() -> None:
    with pytest.raises(AssertionError, match="medialab_made_up_total"):
        assert_exported(selector_names("sum(rate(medialab_made_up_total[5m]))"), "a made-up panel")


def test_the_issue_signals_are_covered() -> None:
    """Failure rate by mode, p95 latency, stuck reservations, slots, Telegram 429, redeliveries, down."""
    alert_exprs = " ".join(rule["expr"] for rule in rules())
    for series in (
        "medialab:job_system_failure_ratio:rate5m",
        "medialab:job_duration_seconds:p95_5m",
        "medialab:billing_pending_reservations:max",
        "medialab:provider_slots_waiting:sum",
        "medialab:provider_slot_wait_seconds:p95_5m",
        "medialab:telegram_429:rate5m",
        "medialab:job_redeliveries:rate5m",
        "up",
    ):
        assert re.search(rf"(?<![\w:]){re.escape(series)}(?![\w:])", alert_exprs), series
    panel_exprs = " ".join(dashboard_exprs())
    for metric in (
        "medialab_jobs_total",
        "medialab_job_duration_seconds_bucket",
        "medialab_billing_pending_reservations",
        "medialab_fal_slots_in_use",
        "medialab_billing_charged_kopecks_total",
        "medialab_billing_released_kopecks_total",
        "medialab_gateway_telegram_errors_total",
    ):
        assert metric in panel_exprs, metric


def test_the_business_row_shows_revenue_paying_users_cost_and_margin() -> None:
    """Issue 20: revenue by method, paid users, provider cost and margin, from billing's counters."""
    panels = list(dashboard_panels())
    [row] = [panel for panel in panels if panel["type"] == "row" and panel["title"] == "Business"]
    below = sorted(
        (p for p in panels if p["gridPos"]["y"] > row["gridPos"]["y"]), key=lambda p: p["gridPos"]["y"]
    )
    business = below[: next(i for i, p in enumerate(below) if p["type"] == "row")]
    exprs = " ".join(target["expr"] for panel in business for target in panel["targets"])
    for series in (
        "medialab_billing_payment_kopecks_total",
        "medialab_billing_promo_kopecks_total",
        "medialab_billing_provider_cost_kopecks_total",
        "medialab:billing_revenue_kopecks:increase1h",
        "medialab:billing_margin_kopecks:increase1h",
        "medialab:billing_paid_users:max",
    ):
        assert re.search(rf"(?<![\w:]){re.escape(series)}(?![\w:])", exprs), series
    assert "by (method)" in exprs
    margin = next(
        rule["expr"] for rule in rules() if rule.get("record") == "medialab:billing_margin_kopecks:increase1h"
    )
    assert selector_names(margin) == {
        "medialab_billing_payment_kopecks_total",
        "medialab_billing_provider_cost_kopecks_total",
    }


def test_dashboard_panels_are_well_formed() -> None:
    panels = list(dashboard_panels())
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(target["refId"] for target in panel["targets"]), panel["title"]
