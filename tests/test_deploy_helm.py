"""The Helm chart in k8s/medialab, rendered by real Helm (helm-python-sdk: Helm's Go SDK, no binary).

Every rendered object is validated against the Kubernetes OpenAPI schemas (kubernetes-validate,
strict: unknown fields fail). The prometheus-operator CRDs (ServiceMonitor, PrometheusRule) have no
schema there; they are checked against the minimal schemas below, which hold the fields we use.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import promql_parser
import pytest
import yaml
from medialab_devstack import nats_auth
from medialab_devstack.launcher import SERVICE_ORDER

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "k8s" / "medialab"
PRODUCTION_VALUES = ROOT / "k8s" / "values-production.example.yaml"
RULE_FILES = sorted((ROOT / "k8s" / "prometheus").glob("*.rules.yml"))
DASHBOARD = ROOT / "k8s" / "grafana" / "medialab.json"
KUBE_VERSION = "1.34.0"
RELEASE, NAMESPACE = "medialab", "medialab"
SECRET_ENV = {
    "TG_BOT_TOKEN",
    "WEBHOOK_SECRET",
    "DATABASE_URL",
    "FAL_KEYS",
    "WAVESPEED_API_KEY",
    "NATS_PASSWORD",
    "JOB_SIGNING_KEY",
}

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}, "labels": _STRING_MAP},
}
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "jobLabel": {"type": "string"},
                "namespaceSelector": {
                    "type": "object",
                    "properties": {"matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "selector": {"type": "object", "properties": {"matchLabels": _STRING_MAP}},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "honorLabels": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}
PROMETHEUS_RULE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "rules"],
                        "properties": {
                            "name": {"type": "string"},
                            "interval": {"type": "string"},
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["expr"],
                                    "oneOf": [{"required": ["record"]}, {"required": ["alert"]}],
                                    "properties": {
                                        "record": {"type": "string"},
                                        "alert": {"type": "string"},
                                        "expr": {"type": "string"},
                                        "for": {"type": "string"},
                                        "labels": _STRING_MAP,
                                        "annotations": _STRING_MAP,
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}
CRD_SCHEMAS = {"ServiceMonitor": SERVICE_MONITOR_SCHEMA, "PrometheusRule": PROMETHEUS_RULE_SCHEMA}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def production_values() -> dict[str, Any]:
    return helm.values_from_yaml(PRODUCTION_VALUES.read_text())


def render(chart: helm.Chart, values: dict[str, Any]) -> list[dict[str, Any]]:
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith(".txt"):
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def component(name: str) -> str:
    return f"{RELEASE}-{name}"


@pytest.fixture(scope="module")
def default_objects(chart: helm.Chart) -> list[dict[str, Any]]:
    return render(chart, {})


@pytest.fixture(scope="module")
def production_objects(chart: helm.Chart) -> list[dict[str, Any]]:
    return render(chart, production_values())


def assert_valid(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] in CRD_SCHEMAS:
            jsonschema.validate(obj, CRD_SCHEMAS[obj["kind"]])
            continue
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(
                f"{where} does not validate against Kubernetes {KUBE_VERSION}: {path}: {error.message}"
            )


def test_default_values_render_valid_objects(default_objects: list[dict[str, Any]]) -> None:
    assert_valid(default_objects)
    kinds = {obj["kind"] for obj in default_objects}
    # External NATS and PostgreSQL, optional extras off by default.
    assert kinds == {"ConfigMap", "Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"}
    assert set(by_kind(default_objects, "Deployment")) == {component(name) for name in SERVICE_ORDER}


def test_production_values_render_valid_objects(production_objects: list[dict[str, Any]]) -> None:
    assert_valid(production_objects)
    kinds = {obj["kind"] for obj in production_objects}
    assert {"Ingress", "HorizontalPodAutoscaler", "ServiceMonitor", "PrometheusRule"} <= kinds
    pdbs = by_kind(production_objects, "PodDisruptionBudget")
    assert set(pdbs) == {
        component(n) for n in ("gateway-bot", "fal-runner", "wavespeed-runner", "text-render")
    }


@pytest.mark.parametrize("objects_fixture", ["default_objects", "production_objects"])
def test_every_deployment_is_locked_down_and_probed(
    objects_fixture: str, request: pytest.FixtureRequest
) -> None:
    objects = request.getfixturevalue(objects_fixture)
    config_maps = by_kind(objects, "ConfigMap")
    for name, deployment in by_kind(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        # Secrets only by reference; the ConfigMap holds none of them.
        for env in container.get("env", []):
            assert "value" not in env and "secretKeyRef" in env["valueFrom"], (name, env["name"])
        config = config_maps[container["envFrom"][0]["configMapRef"]["name"]]["data"]
        assert not SECRET_ENV & set(config), name
        assert config["HTTP_HOST"] == "0.0.0.0" and config["HTTP_PORT"] == "8080"


def test_each_service_gets_exactly_its_secrets(default_objects: list[dict[str, Any]]) -> None:
    expected = {
        "gateway-bot": {"TG_BOT_TOKEN": ("medialab-telegram", "token")},
        "billing": {"DATABASE_URL": ("medialab-database", "url")},
        "fal-runner": {"FAL_KEYS": ("medialab-fal", "keys")},
        "wavespeed-runner": {"WAVESPEED_API_KEY": ("medialab-wavespeed", "api-key")},
        "text-render": {},
        "prompt-llm": {},
        "payments": {
            "YOOKASSA_SHOP_ID": ("medialab-yookassa", "shop-id"),
            "YOOKASSA_SECRET_KEY": ("medialab-yookassa", "secret-key"),
        },
    }
    # Billing signs every job with JOB_SIGNING_KEY, the job consumers check it: each from its own Secret.
    for name in ("billing", "fal-runner", "wavespeed-runner", "text-render", "prompt-llm"):
        expected[name]["JOB_SIGNING_KEY"] = (f"medialab-job-signing-{name}", "key")
    deployments = by_kind(default_objects, "Deployment")
    for name, secrets in expected.items():
        (container,) = deployments[component(name)]["spec"]["template"]["spec"]["containers"]
        got = {
            env["name"]: (env["valueFrom"]["secretKeyRef"]["name"], env["valueFrom"]["secretKeyRef"]["key"])
            for env in container.get("env", [])
        }
        assert got == {**secrets, "NATS_PASSWORD": (f"medialab-nats-{name}", "password")}, name


@pytest.mark.parametrize("objects_fixture", ["default_objects", "production_objects"])
def test_each_deployment_mounts_only_its_own_secrets(
    objects_fixture: str, request: pytest.FixtureRequest
) -> None:
    """No Secret is shared: a compromised pod reads its own credentials and nobody else's."""
    referenced: dict[str, set[str]] = {}
    for name, deployment in by_kind(request.getfixturevalue(objects_fixture), "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        secrets = {env["valueFrom"]["secretKeyRef"]["name"] for env in container.get("env", [])}
        secrets |= {src["secretRef"]["name"] for src in container.get("envFrom", []) if "secretRef" in src}
        secrets |= {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
        referenced[name] = secrets
    for name, secrets in referenced.items():
        others = set().union(*(s for other, s in referenced.items() if other != name))
        assert not secrets & others, (name, secrets & others)


def test_chart_ships_the_nats_authorization_without_anonymous_access(
    default_objects: list[dict[str, Any]],
) -> None:
    (auth,) = [
        o
        for o in by_kind(default_objects, "ConfigMap").values()
        if o["metadata"]["name"].endswith("-nats-auth")
    ]
    text = auth["data"]["auth.conf"]
    assert text.strip() == nats_auth.GENERATED_FILES[1].read_text().strip()
    assert text.strip() == nats_auth.render(nats_auth.load()).strip()
    settings = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "no_auth_user" not in settings and "authorization {" in settings
    for user in nats_auth.load().users:
        assert f'{{user: "{user}", password: ${nats_auth.password_variable(user)}' in settings


def test_webhook_mode_wires_gateway_port_ingress_and_secret(production_objects: list[dict[str, Any]]) -> None:
    gateway = by_kind(production_objects, "Deployment")[component("gateway-bot")]
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    assert {"name": "webhook", "containerPort": 8443, "protocol": "TCP"} in container["ports"]
    assert "WEBHOOK_SECRET" in {env["name"] for env in container["env"]}
    config = by_kind(production_objects, "ConfigMap")[component("gateway-bot")]["data"]
    assert config["WEBHOOK_URL"] == "https://bot.example.com/telegram/webhook"
    assert config["WEBHOOK_PORT"] == "8443"
    # Numbers from values keep their digits (Helm reads them as floats).
    assert config["MAX_IMAGE_BYTES"] == "20971520"
    (rule,) = by_kind(production_objects, "Ingress")[component("gateway-bot")]["spec"]["rules"]
    assert rule["host"] == "bot.example.com"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/telegram/webhook"
    assert path["backend"]["service"] == {"name": component("gateway-bot"), "port": {"name": "webhook"}}
    service_ports = by_kind(production_objects, "Service")[component("gateway-bot")]["spec"]["ports"]
    assert {"name": "webhook", "port": 8443, "targetPort": "webhook", "protocol": "TCP"} in service_ports


def test_payments_gets_its_notification_port_ingress_and_the_gateway_offers_yookassa(
    production_objects: list[dict[str, Any]],
) -> None:
    payments = by_kind(production_objects, "Deployment")[component("payments")]
    (container,) = payments["spec"]["template"]["spec"]["containers"]
    assert {"name": "yookassa", "containerPort": 8088, "protocol": "TCP"} in container["ports"]
    config = by_kind(production_objects, "ConfigMap")[component("payments")]["data"]
    assert (config["YOOKASSA_WEBHOOK_HOST"], config["YOOKASSA_WEBHOOK_PORT"]) == ("0.0.0.0", "8088")
    assert config["YOOKASSA_WEBHOOK_PATH"] == "/yookassa/webhook"
    assert (
        by_kind(production_objects, "ConfigMap")[component("gateway-bot")]["data"]["YOOKASSA_ENABLED"]
        == "true"
    )
    (rule,) = by_kind(production_objects, "Ingress")[component("payments")]["spec"]["rules"]
    assert rule["host"] == "pay.example.com"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/yookassa/webhook"
    assert path["backend"]["service"] == {"name": component("payments"), "port": {"name": "yookassa"}}
    service_ports = by_kind(production_objects, "Service")[component("payments")]["spec"]["ports"]
    assert {"name": "yookassa", "port": 8088, "targetPort": "yookassa", "protocol": "TCP"} in service_ports


def test_autoscaled_runners_leave_replicas_to_the_hpa(production_objects: list[dict[str, Any]]) -> None:
    deployments = by_kind(production_objects, "Deployment")
    hpas = by_kind(production_objects, "HorizontalPodAutoscaler")
    assert set(hpas) == {component("fal-runner"), component("text-render")}
    for name, hpa in hpas.items():
        assert "replicas" not in deployments[name]["spec"]
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}


def test_polling_gateway_is_recreated_and_single(
    chart: helm.Chart, default_objects: list[dict[str, Any]]
) -> None:
    gateway = by_kind(default_objects, "Deployment")[component("gateway-bot")]
    assert gateway["spec"]["strategy"] == {"type": "Recreate"}
    with pytest.raises(helm.HelmError, match=r"needs gateway\.webhook\.enabled"):
        render(chart, {"services": {"gateway-bot": {"replicas": 2}}})


def test_metrics_are_selected_as_medialab_jobs(production_objects: list[dict[str, Any]]) -> None:
    (monitor,) = by_kind(production_objects, "ServiceMonitor").values()
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = by_kind(production_objects, "Service")
    assert len(services) == len(SERVICE_ORDER)
    for name, service in services.items():
        labels = service["metadata"]["labels"]
        assert selector.items() <= labels.items(), name
        assert labels[monitor["spec"]["jobLabel"]] == f"medialab-{name.removeprefix(RELEASE + '-')}"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_prometheus_rule_ships_the_plain_rule_files(production_objects: list[dict[str, Any]]) -> None:
    (rule,) = by_kind(production_objects, "PrometheusRule").values()
    plain = [group for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"]]
    assert rule["spec"]["groups"] == plain
    for group in plain:
        for item in group["rules"]:
            promql_parser.parse(item["expr"])


def test_dashboard_config_map_ships_the_dashboard(production_objects: list[dict[str, Any]]) -> None:
    (config_map,) = (
        obj for obj in by_kind(production_objects, "ConfigMap").values() if "medialab.json" in obj["data"]
    )
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["medialab.json"]) == json.loads(DASHBOARD.read_text())


def test_values_schema_accepts_both_values_files(chart: helm.Chart) -> None:
    chart.validate_schema({})
    chart.validate_schema(production_values())


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"services": {"billing": {"replicas": "two"}}}, "/services/billing/replicas"),
        ({"httpPort": "8080"}, "/httpPort"),
        ({"metrics": {"serviceMonitor": {"enabled": "yes"}}}, "/metrics/serviceMonitor/enabled"),
        ({"config": {"adminIds": ["alice"]}}, "/config/adminIds/0"),
        # A secret put into plain settings is refused.
        ({"services": {"billing": {"env": {"DATABASE_URL": "postgresql://u:p@db/x"}}}}, "DATABASE_URL"),
        ({"gateway": {"webhook": {"enabled": True, "url": "http://insecure"}}}, "/gateway/webhook/url"),
        ({"securityContext": {"readOnlyRootFilesystem": False}}, "/securityContext/readOnlyRootFilesystem"),
        ({"replicas": 3}, "replicas"),
    ],
)
def test_values_schema_rejects_wrong_values(
    chart: helm.Chart, values: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(helm.HelmValuesError, match=complaint):
        chart.validate_schema(values)


@pytest.mark.parametrize("values", [{}, production_values()], ids=["default", "production"])
def test_helm_lint_finds_no_warning(values: dict[str, Any]) -> None:
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBE_VERSION}")
    warnings = [message for message in report["messages"] if message["severity"] >= 2]
    assert not warnings and not report["errors"], (warnings, report["errors"])


def test_production_values_give_every_service_three_nats_replicas(
    production_objects: list[dict[str, Any]],
) -> None:
    """The production values run on the three-node JetStream cluster: every service provisions three
    copies of its streams, knows every node, and would refuse fewer copies (ENVIRONMENT=production)."""
    config_maps = by_kind(production_objects, "ConfigMap")
    deployments = by_kind(production_objects, "Deployment")
    assert set(deployments) == {component(name) for name in SERVICE_ORDER}
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        config = config_maps[container["envFrom"][0]["configMapRef"]["name"]]["data"]
        assert config["NATS_REPLICAS"] == "3", name
        assert config["ENVIRONMENT"] == "production", name
        assert config["ALLOW_FEW_REPLICAS"] == "false", name
        assert len(config["NATS_URL"].split(",")) == 3, name


def test_official_nats_values_install_a_three_node_jetstream_cluster_with_our_auth() -> None:
    values = yaml.safe_load((ROOT / "k8s" / "nats" / "values.yaml").read_text())
    cluster, jetstream = values["config"]["cluster"], values["config"]["jetstream"]
    assert cluster["enabled"] is True and cluster["replicas"] == 3
    assert cluster["routeURLs"]["user"] and "password" not in cluster["routeURLs"]  # given by --set
    assert jetstream["enabled"] is True and jetstream["fileStore"]["pvc"]["enabled"] is True
    assert values["config"]["merge"]["$include"] == "./medialab/auth.conf"
    volume = values["podTemplate"]["patch"][0]["value"]
    assert volume["configMap"]["name"] == "nats-medialab-auth"
    mounts = [p["value"] for p in values["container"]["patch"] if p["path"] == "/volumeMounts/-"]
    assert mounts == [{"name": volume["name"], "mountPath": "/etc/nats-config/medialab"}]
    postgres = yaml.safe_load((ROOT / "k8s" / "postgres" / "cluster.yaml").read_text())
    assert postgres["kind"] == "Cluster" and postgres["spec"]["instances"] == 1
    assert production_values()["database"] == {"existingSecret": "medialab-pg-app", "secretKey": "uri"}
