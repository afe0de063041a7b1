"""deploy/: the Dockerfile targets, the single-host compose file, and the .env.example they read.

Docker is not available here, so the files are checked against the code: every service has an image
target whose command is its real ``python -m`` module, compose runs them all with NATS and PostgreSQL,
and .env.example lists every setting of every service's pydantic-settings class with its default.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import yaml
from medialab_devstack import nats_auth
from medialab_devstack.launcher import SERVICE_ORDER
from medialab_devstack.stack import SERVICE_MODULES, SERVICE_PROCESS_ENV
from medialab_runtime.settings import ServiceSettings
from pydantic import SecretStr
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
COMMON = "common"
COMPOSE_ONLY = "docker compose only"


# ----- Dockerfile -------------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    commands: list[dockerfile.Command] = field(default_factory=list)

    def get(self, instruction: str) -> list[dockerfile.Command]:
        return [command for command in self.commands if command.cmd == instruction]


def dockerfile_stages() -> tuple[dict[str, str], dict[str, Stage]]:
    """Global ARG defaults and the stages by name, as BuildKit's own parser reads the file."""
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        if command.cmd == "FROM":
            base, as_, name = command.value
            assert as_.upper() == "AS", command.original
            current = stages[name] = Stage(base)
        elif current is None:
            assert command.cmd == "ARG", command.original
            key, _, value = command.value[0].partition("=")
            args[key] = value
        else:
            current.commands.append(command)
    return args, stages


def service_dist(name: str) -> str:
    return tomllib.loads((ROOT / "services" / name / "pyproject.toml").read_text())["project"]["name"]


@pytest.mark.parametrize("name", SERVICE_ORDER)
def test_each_service_has_an_image_target_running_its_module(name: str) -> None:
    _, stages = dockerfile_stages()
    stage = stages[name]
    (cmd,) = stage.get("CMD")
    module = SERVICE_MODULES[name]
    # Exec form: python is PID 1 and gets SIGTERM itself.
    assert cmd.json and cmd.value == ("python", "-m", module)
    assert importlib.util.find_spec(module) is not None
    assert importlib.util.find_spec(f"{module}.__main__") is not None, f"python -m {module} has no __main__"
    (copy,) = stage.get("COPY")
    (from_flag,) = copy.flags
    venv_stage = stages[from_flag.removeprefix("--from=")]
    assert copy.value == ("/app/.venv", "/app/.venv")
    (run,) = venv_stage.get("RUN")
    sync = run.value[0].split("uv sync", 1)[1].split()
    assert {"--frozen", "--no-dev", "--no-editable"} <= set(sync)
    assert sync[sync.index("--package") + 1] == service_dist(name)
    assert venv_stage.base == "workspace" and stage.base == "runtime"


@pytest.mark.parametrize("name", SERVICE_ORDER)
def test_dev_launcher_starts_each_service_with_its_image_env(name: str) -> None:
    # e.g. the gateway's MALLOC_ARENA_MAX: memory measured on the dev stack must be the image's.
    _, stages = dockerfile_stages()
    image_env: dict[str, str] = {}
    for env in stages[name].get("ENV"):
        image_env.update(zip(env.value[::2], env.value[1::2], strict=True))
    assert image_env == SERVICE_PROCESS_ENV.get(SERVICE_MODULES[name], {})


def test_runtime_image_is_slim_non_root_and_health_checked() -> None:
    args, stages = dockerfile_stages()
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert stages["runtime"].base == stages["workspace"].base == "${PYTHON_IMAGE}"
    runtime = stages["runtime"]
    (user,) = runtime.get("USER")
    assert user.value[0].split(":")[0] not in {"0", "root"}
    (healthcheck,) = runtime.get("HEALTHCHECK")
    assert healthcheck.json and healthcheck.value[0] == "CMD"
    assert "/healthz" in healthcheck.value[-1] and "HTTP_PORT" in healthcheck.value[-1]
    (env,) = runtime.get("ENV")
    variables = dict(zip(env.value[::2], env.value[1::2], strict=True))
    assert variables["HTTP_HOST"] == "0.0.0.0" and variables["PYTHONDONTWRITEBYTECODE"] == "1"


# ----- .env.example -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvLine:
    value: str
    commented: bool


def env_example() -> dict[str, dict[str, EnvLine]]:
    """Sections ("==== <name> ====") of .env.example and the variables each lists."""
    sections: dict[str, dict[str, EnvLine]] = {}
    current: dict[str, EnvLine] | None = None
    for line in ENV_EXAMPLE.read_text().splitlines():
        header = re.fullmatch(r"# ==== (.+?) =+", line)
        if header:
            current = sections.setdefault(header[1].split(":")[0], {})
            continue
        assignment = re.fullmatch(r"(# )?([A-Z][A-Z0-9_]*)=(.*)", line)
        if assignment:
            assert current is not None, f"{line!r} is above every section"
            name = assignment[2]
            assert name not in current, f"{name} listed twice in one section"
            current[name] = EnvLine(assignment[3], commented=bool(assignment[1]))
    return sections


def settings_class(name: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"{SERVICE_MODULES[name]}.settings")
    (cls,) = (
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, ServiceSettings) and obj.__module__ == module.__name__
    )
    return cls


def env_name(field_name: str, info: FieldInfo) -> str:
    alias = info.validation_alias or info.alias
    return (alias if isinstance(alias, str) else field_name).upper()


def own_fields(cls: type[ServiceSettings]) -> dict[str, tuple[str, FieldInfo]]:
    """Env var name → (field name, field) of the fields a service adds to ServiceSettings."""
    return {
        env_name(name, info): (name, info)
        for name, info in cls.model_fields.items()
        if name not in ServiceSettings.model_fields
    }


def common_fields() -> dict[str, tuple[str, FieldInfo]]:
    return {env_name(name, info): (name, info) for name, info in ServiceSettings.model_fields.items()}


def assert_listed_default(
    cls: type[ServiceSettings],
    fields: dict[str, tuple[str, FieldInfo]],
    listed: dict[str, EnvLine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A commented line shows the field's default, in the form the settings class reads."""
    for variable in {env_name(n, i) for n, i in cls.model_fields.items()}:
        monkeypatch.delenv(variable, raising=False)
    required = {variable for variable, (_, info) in fields.items() if info.is_required()}
    for variable in required:
        monkeypatch.setenv(variable, "placeholder")
    for variable, line in listed.items():
        field_name, info = fields[variable]
        if info.is_required():
            continue
        default = info.get_default(call_default_factory=True)
        if default is None and line.value == "":
            continue
        with monkeypatch.context() as patch:
            patch.setenv(variable, line.value)
            parsed = getattr(cls(_env_file=None), field_name)
        assert parsed == default, f"{cls.__name__}: {variable}={line.value!r} is not the default {default!r}"


def test_env_example_lists_the_common_settings_with_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = env_example()[COMMON]
    assert set(listed) == set(common_fields())
    assert all(line.commented for line in listed.values())
    assert_listed_default(settings_class("prompt-llm"), common_fields(), listed, monkeypatch)


@pytest.mark.parametrize("name", SERVICE_ORDER)
def test_env_example_lists_every_setting_of_the_service(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cls = settings_class(name)
    fields = own_fields(cls)
    listed = env_example()[name]
    assert set(listed) == set(fields), (
        f"{name}: missing {set(fields) - set(listed)}, unknown {set(listed) - set(fields)}"
    )
    assert_listed_default(cls, fields, listed, monkeypatch)


# ----- docker-compose.yml -----------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def compose_path(relative: str) -> Path:
    return (DEPLOY / relative).resolve()


def test_compose_runs_nats_with_jetstream_and_postgres_on_volumes() -> None:
    spec = compose()
    nats, postgres = spec["services"]["nats"], spec["services"]["postgres"]
    assert nats["image"] == "nats:2.10-alpine"
    command = nats["command"]
    assert "-js" in command and command[command.index("-sd") + 1] == "/data"
    volumes = set(spec["volumes"])
    assert any(v.split(":")[0] in volumes and v.split(":")[1] == "/data" for v in nats["volumes"])
    assert any(
        v.split(":")[0] in volumes and v.split(":")[1] == "/var/lib/postgresql/data"
        for v in postgres["volumes"]
    )
    assert "healthcheck" in nats and "healthcheck" in postgres


@pytest.mark.parametrize("name", SERVICE_ORDER)
def test_compose_builds_and_wires_every_service(name: str) -> None:
    service = compose()["services"][name]
    assert service["build"]["target"] == name
    assert compose_path(service["build"]["context"]) == ROOT
    assert compose_path(service["build"]["context"]) / service["build"]["dockerfile"] == DOCKERFILE
    assert compose_path(service["env_file"]) == ENV_EXAMPLE.with_name(".env")
    env = service["environment"]
    assert env["NATS_URL"] == "nats://nats:4222"
    assert env["HTTP_HOST"] == "0.0.0.0"
    assert service["depends_on"]["nats"]["condition"] == "service_healthy"
    assert service["read_only"] is True and "/tmp" in service["tmpfs"]
    # Longer than the services' own SHUTDOWN_GRACE_S, so in-flight jobs finish or go back.
    assert (
        int(service["stop_grace_period"].removesuffix("s"))
        > ServiceSettings.model_fields["shutdown_grace_s"].get_default()
    )


@pytest.mark.parametrize("name", SERVICE_ORDER)
def test_required_settings_are_set_by_compose_or_env_example(name: str) -> None:
    required = {v for v, (_, info) in own_fields(settings_class(name)).items() if info.is_required()}
    set_by_compose = set(compose()["services"][name]["environment"])
    to_fill = {v for v, line in env_example()[name].items() if not line.commented}
    assert required <= set_by_compose | to_fill, required - set_by_compose - to_fill


def test_billing_uses_the_bundled_postgres() -> None:
    billing = compose()["services"]["billing"]
    assert billing["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "@postgres:5432/" in billing["environment"]["DATABASE_URL"]


def test_compose_variables_are_listed_in_env_example() -> None:
    text = COMPOSE.read_text()
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    listed = {name for section in env_example().values() for name in section}
    assert used <= listed, used - listed
    assert "POSTGRES_PASSWORD" in env_example()[COMPOSE_ONLY]


def test_compose_prometheus_scrapes_every_service_and_loads_the_rules() -> None:
    spec = compose()["services"]
    prometheus_config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in prometheus_config["scrape_configs"]
    }
    assert jobs == {f"medialab-{name}": [f"{name}:8080"] for name in SERVICE_ORDER}
    mounts = dict(v.split(":")[:2][::-1] for v in spec["prometheus"]["volumes"])
    rules_dir = compose_path(mounts["/etc/prometheus/rules"])
    (pattern,) = prometheus_config["rule_files"]
    assert sorted(rules_dir.glob(Path(pattern).name)) == sorted((ROOT / "k8s" / "prometheus").glob("*.yml"))
    grafana_mounts = dict(v.split(":")[:2][::-1] for v in spec["grafana"]["volumes"])
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/medialab.yml").read_text())
    dashboards = compose_path(grafana_mounts[provider["providers"][0]["options"]["path"]])
    assert (dashboards / "medialab.json").is_file()


# ----- secrets and the closed bus ----------------------------------------------------------------------


def is_secret(info: FieldInfo) -> bool:
    """A ``SecretStr`` field, optional or not."""
    annotation = info.annotation
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def service_secrets() -> dict[str, frozenset[str]]:
    """Each secret a service reads (a ``SecretStr`` field of its own settings) → the services reading it.

    Derived, so a secret added to any settings class is covered here without a list to update. The
    common settings' secret (``NATS_PASSWORD``) is checked apart: compose gives each service its own.
    """
    owners: dict[str, set[str]] = {}
    for name in SERVICE_ORDER:
        for variable, (_, info) in own_fields(settings_class(name)).items():
            if is_secret(info):
                owners.setdefault(variable, set()).add(name)
    return {variable: frozenset(names) for variable, names in owners.items()}


# Secrets in .env that no service reads: every service container gets them blanked.
UNOWNED_SECRETS = (
    "FAL_KEY",  # fal's client library would pick it up: fal-runner reads FAL_KEYS
    "POSTGRES_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
    *(nats_auth.password_variable(user) for user in nats_auth.load().users),
)
SECRET_OWNERS: dict[str, frozenset[str]] = {
    **service_secrets(),
    **dict.fromkeys(UNOWNED_SECRETS, frozenset()),
}
JOB_CONSUMERS = frozenset({"fal-runner", "wavespeed-runner", "text-render", "prompt-llm"})


def test_the_secret_owners_come_from_the_settings_classes() -> None:
    # The derivation finds every service's secrets (the YooKassa pair was once missing from a list).
    assert {
        "TG_BOT_TOKEN": {"gateway-bot"},
        "WEBHOOK_SECRET": {"gateway-bot"},
        "FAL_KEYS": {"fal-runner"},
        "WAVESPEED_API_KEY": {"wavespeed-runner"},
        "DATABASE_URL": {"billing"},
        "YOOKASSA_SHOP_ID": {"payments"},
        "YOOKASSA_SECRET_KEY": {"payments"},
        # The one secret shared: billing signs jobs with it, the job consumers check them.
        "JOB_SIGNING_KEY": {"billing", *JOB_CONSUMERS},
    }.items() <= service_secrets().items()
    assert "NATS_PASSWORD" not in service_secrets()


@pytest.mark.parametrize("name", SERVICE_ORDER)
def test_each_service_gets_only_its_own_secrets(name: str) -> None:
    """.env reaches every container (env_file); every secret in it is blanked unless the service reads it."""
    env = compose()["services"][name]["environment"]
    for secret, owners in SECRET_OWNERS.items():
        assert secret in env, f"{secret} of .env reaches {name}"
        assert bool(env[secret]) == (name in owners), (name, secret)
    assert env["NATS_USER"] == name
    assert env["NATS_PASSWORD"] == "${" + nats_auth.password_variable(name) + "}"


def test_compose_requires_one_job_signing_key_for_billing_and_the_job_consumers() -> None:
    """Compose runs development settings: without the key jobs would go unsigned and unchecked."""
    services = compose()["services"]
    keys = {name: services[name]["environment"]["JOB_SIGNING_KEY"] for name in SERVICE_ORDER}
    (required,) = {keys[name] for name in {"billing", *JOB_CONSUMERS}}
    assert required.startswith("${JOB_SIGNING_KEY:?"), required
    assert not any(keys[name] for name in set(SERVICE_ORDER) - {"billing", *JOB_CONSUMERS})


def test_compose_nats_refuses_anonymous_clients() -> None:
    nats = compose()["services"]["nats"]
    command = nats["command"]
    config = command[command.index("-c") + 1]
    mounted = {v.split(":")[1]: compose_path(v.split(":")[0]) for v in nats["volumes"] if v.startswith("./")}
    assert mounted[config] == nats_auth.GENERATED_FILES[0]
    for user in nats_auth.load().users:
        assert nats_auth.password_variable(user) in nats["environment"]
    assert "no_auth_user" not in "".join(
        line for line in nats_auth.GENERATED_FILES[0].read_text().splitlines() if not line.startswith("#")
    )
