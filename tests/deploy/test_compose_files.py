"""The compose files: valid compose-spec documents, wired the way the stack needs them (checked offline)."""

import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
RUN_SCRIPT = REPO / "scripts" / "run.sh"
APPS = {"gateway": 8080, "booking": 8081, "availability": 8082, "waitlist": 8083, "notifier": 8084, "console": 8085}
# The console owns no schema: migrations only stand before it because the gateway it needs waits on them.
MIGRATED_APPS = APPS.keys() - {"console"}
ROOT_COMPOSE = REPO / "docker-compose.yml"
SERVICE_COMPOSES = {name: REPO / "services" / name / "docker-compose.yml" for name in APPS}
ALL_COMPOSES = [ROOT_COMPOSE, *SERVICE_COMPOSES.values()]
COMPOSE_IDS = [str(path.relative_to(REPO)) for path in ALL_COMPOSES]

# What each service talks to; a dependency's own needs come with it.
NEEDS = {
    "gateway": {"postgres", "redis", "booking", "availability", "waitlist", "notifier"},
    "booking": {"postgres", "redis", "rabbitmq"},
    "availability": {"postgres", "postgres-replica", "redis", "rabbitmq"},
    "waitlist": {"postgres", "rabbitmq", "booking"},
    "notifier": {"postgres", "rabbitmq", "mailpit"},
    "console": {"gateway"},
    "postgres-replica": {"postgres"},
}
INFRASTRUCTURE = {"postgres", "postgres-replica", "redis", "rabbitmq", "mailpit"}
OBSERVABILITY = {"prometheus", "grafana", "jaeger"}
# What Prometheus scrapes for the servers that serve no metrics of their own (RabbitMQ does, on :15692).
EXPORTERS = {"postgres-exporter", "postgres-replica-exporter", "redis-exporter"}
# Gateway, Grafana, Jaeger UI, Mailpit UI, RabbitMQ management, Prometheus.
ROOT_PUBLISHED = {8080, 3000, 16686, 8025, 15672, 9090}
MAILPIT_UI = 8025


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path)


def services_of(path: Path) -> dict[str, dict[str, Any]]:
    return load_yaml(path)["services"]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency name -> condition, for both the list and the mapping forms."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def one_shots(services: dict[str, dict[str, Any]]) -> set[str]:
    """Services others wait on to finish rather than to be healthy, and those run on demand that never restart."""
    awaited = {
        name
        for service in services.values()
        for name, condition in depends_on(service).items()
        if condition == "service_completed_successfully"
    }
    on_demand = {name for name, s in services.items() if s.get("profiles") and s.get("restart", "no") == "no"}
    return awaited | on_demand


def dockerfile_of(service: dict[str, Any], compose_dir: Path) -> Path | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        return (compose_dir / build / "Dockerfile").resolve()
    return (compose_dir / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve()


def has_healthcheck(service: dict[str, Any], compose_dir: Path) -> bool:
    """A healthcheck in the compose file, or one inherited from the Dockerfile the service builds from."""
    check = service.get("healthcheck")
    if check is not None:
        return not check.get("disable", False) and check.get("test") not in (None, ["NONE"])
    dockerfile = dockerfile_of(service, compose_dir)
    if dockerfile is None or not dockerfile.is_file():
        return False
    return re.search(r"^HEALTHCHECK\s+(?!NONE\b)", dockerfile.read_text(), re.MULTILINE) is not None


def published_ports(service: dict[str, Any]) -> set[int | None]:
    """Host ports the service publishes; None stands for a port Docker would pick at random."""
    found: set[int | None] = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            published = port.get("published")
            found.add(int(published) if published is not None else None)
            continue
        parts = str(port).split("/")[0].rsplit(":", 2)
        found.add(int(parts[-2]) if len(parts) >= 2 else None)
    return found


def composes_with(service: str) -> list[Any]:
    """The compose files that run `service`, as pytest parameters."""
    return [pytest.param(p, id=str(p.relative_to(REPO))) for p in ALL_COMPOSES if service in services_of(p)]


def needed_by(name: str) -> set[str]:
    """Everything `name` needs, directly or through what it needs."""
    seen: set[str] = set()
    pending = [name]
    while pending:
        for dependency in NEEDS.get(pending.pop(), set()) - seen:
            seen.add(dependency)
            pending.append(dependency)
    return seen


@pytest.mark.parametrize("path", ALL_COMPOSES, ids=COMPOSE_IDS)
def test_matches_the_compose_spec_schema(path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ALL_COMPOSES, ids=COMPOSE_IDS)
def test_has_no_obsolete_version_key(path: Path) -> None:
    assert "version" not in load_yaml(path)


@pytest.mark.parametrize("path", ALL_COMPOSES, ids=COMPOSE_IDS)
def test_depends_on_names_only_services_in_the_file(path: Path) -> None:
    services = services_of(path)
    dangling = {
        f"{name} -> {dependency}"
        for name, service in services.items()
        for dependency in depends_on(service)
        if dependency not in services
    }
    assert not dangling


@pytest.mark.parametrize("path", ALL_COMPOSES, ids=COMPOSE_IDS)
def test_every_long_running_service_has_a_healthcheck(path: Path) -> None:
    services = services_of(path)
    missing = {
        name
        for name, service in services.items()
        if name not in one_shots(services) and not has_healthcheck(service, path.parent)
    }
    assert not missing


@pytest.mark.parametrize("path", ALL_COMPOSES, ids=COMPOSE_IDS)
def test_waits_only_on_conditions_the_dependency_can_meet(path: Path) -> None:
    services = services_of(path)
    for name, service in services.items():
        for dependency, condition in depends_on(service).items():
            target = services[dependency]
            if condition == "service_healthy":
                assert has_healthcheck(target, path.parent), f"{name} waits on {dependency} being healthy"
            if condition == "service_completed_successfully":
                assert target.get("restart", "no") == "no", f"{dependency} is a one-shot that restarts"


@pytest.mark.parametrize("path", ALL_COMPOSES, ids=COMPOSE_IDS)
def test_apps_build_from_their_own_dockerfile_with_the_repo_as_context(path: Path) -> None:
    for name, service in services_of(path).items():
        if name not in APPS:
            continue
        build = service["build"]
        assert (path.parent / build["context"]).resolve() == REPO
        assert build["dockerfile"] == f"services/{name}/Dockerfile"
        assert (REPO / build["dockerfile"]).is_file()


@pytest.mark.parametrize("path", ALL_COMPOSES, ids=COMPOSE_IDS)
def test_apps_start_after_migrations_and_with_what_they_need(path: Path) -> None:
    services = services_of(path)
    for name in APPS.keys() & services.keys():
        deps = depends_on(services[name])
        assert deps.get("migrate") == "service_completed_successfully", name
        assert NEEDS[name] <= deps.keys(), f"{name} lacks {NEEDS[name] - deps.keys()}"
        assert {deps[d] for d in NEEDS[name]} == {"service_healthy"}, name


@pytest.mark.parametrize("path", ALL_COMPOSES, ids=COMPOSE_IDS)
def test_migrations_cover_every_app_in_the_file_and_what_they_read(path: Path) -> None:
    services = services_of(path)
    migrated = set(services["migrate"]["command"])
    expected = set(MIGRATED_APPS & services.keys())
    if "availability" in expected:
        expected.add("booking")  # availability reads booking's tables
    assert expected <= migrated


@pytest.mark.parametrize("path", ALL_COMPOSES, ids=COMPOSE_IDS)
def test_app_urls_point_at_services_in_the_file(path: Path) -> None:
    services = services_of(path)
    for name in APPS.keys() & services.keys():
        for variable, value in services[name]["environment"].items():
            host = urlsplit(str(value)).hostname if "://" in str(value) else None
            if variable.endswith("_SMTP_HOST"):
                host = value
            if host is not None:
                assert host in services, f"{name}: {variable}={value}"
            if host in APPS:
                assert urlsplit(value).port == APPS[host], f"{name}: {variable}={value}"


@pytest.mark.parametrize("path", composes_with("redis"))
def test_redis_never_evicts(path: Path) -> None:
    command = services_of(path)["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


@pytest.mark.parametrize("path", ALL_COMPOSES, ids=COMPOSE_IDS)
def test_bind_mounted_files_exist(path: Path) -> None:
    for name, service in services_of(path).items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else str(volume).split(":")[0]
            if source.startswith("."):
                assert (path.parent / source).exists(), f"{name}: {source}"


@pytest.mark.parametrize("path", composes_with("postgres-replica"))
def test_replica_streams_from_the_primary(path: Path) -> None:
    services = services_of(path)
    replica = services["postgres-replica"]
    assert replica["environment"]["PRIMARY_HOST"] == "postgres"
    assert "pg_stat_wal_receiver" in " ".join(replica["healthcheck"]["test"])
    primary_mounts = " ".join(services["postgres"]["volumes"])
    assert "primary-init-replication.sh:/docker-entrypoint-initdb.d/" in primary_mounts
    user = services["postgres"]["environment"]["REPLICATION_USER"]
    assert replica["environment"]["REPLICATION_USER"] == user


def test_root_runs_the_whole_stack() -> None:
    services = services_of(ROOT_COMPOSE)
    assert APPS.keys() | INFRASTRUCTURE | OBSERVABILITY | EXPORTERS | {"migrate", "seed"} == services.keys()


def test_root_publishes_only_the_documented_ports() -> None:
    services = services_of(ROOT_COMPOSE)
    published = set().union(*(published_ports(service) for service in services.values()))
    assert published == ROOT_PUBLISHED
    assert {name for name in APPS if published_ports(services[name])} == {"gateway"}


def test_root_apps_export_traces_to_jaeger() -> None:
    services = services_of(ROOT_COMPOSE)
    for name in APPS:
        endpoint = services[name]["environment"]["SMARTSLOT_OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert endpoint == "http://jaeger:4318", name


@pytest.mark.parametrize("name", APPS)
def test_service_file_holds_the_service_and_only_what_it_needs(name: str) -> None:
    services = services_of(SERVICE_COMPOSES[name])
    assert services.keys() == {name, "migrate"} | needed_by(name)


@pytest.mark.parametrize("name", APPS)
def test_service_file_publishes_the_service_port(name: str) -> None:
    services = services_of(SERVICE_COMPOSES[name])
    published = set().union(*(published_ports(service) for service in services.values()))
    assert APPS[name] in published
    assert published <= {APPS[name], MAILPIT_UI}


def test_prometheus_scrapes_every_service_by_its_compose_name() -> None:
    config = load_yaml(REPO / "deploy" / "prometheus" / "prometheus.compose.yml")
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert {f"{name}:{port}" for name, port in APPS.items()} <= targets
    mounted = " ".join(services_of(ROOT_COMPOSE)["prometheus"]["volumes"])
    assert "./deploy/prometheus/prometheus.compose.yml:/etc/prometheus/prometheus.yml" in mounted


def test_grafana_provisions_the_prometheus_datasource() -> None:
    provisioning = REPO / "deploy" / "grafana" / "provisioning"
    datasources = [
        source
        for path in sorted((provisioning / "datasources").glob("*.y*ml"))
        for source in load_yaml(path)["datasources"]
    ]
    assert any(s["type"] == "prometheus" and s["url"] == "http://prometheus:9090" for s in datasources)
    mounted = " ".join(services_of(ROOT_COMPOSE)["grafana"]["volumes"])
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning" in mounted


def run_sh_default(variable: str) -> str:
    """The default scripts/run.sh (make run) gives a setting: `export VAR="${VAR:-default}"`."""
    found = re.search(rf'export {variable}="\${{{variable}:-([^}}]*)}}"', RUN_SCRIPT.read_text())
    assert found, f"scripts/run.sh sets no default for {variable}"
    return found.group(1)


def test_seed_runs_the_demo_seed_against_the_gateway_once_it_is_healthy() -> None:
    services = services_of(ROOT_COMPOSE)
    seed, migrate = services["seed"], services["migrate"]
    assert depends_on(seed) == {"gateway": "service_healthy"}
    assert seed.get("restart", "no") == "no", "a one-shot"
    assert seed["entrypoint"] == ["python", "/opt/smartslot/seed_demo.py"]
    assert seed["command"] == ["--gateway-url", f"http://gateway:{APPS['gateway']}"]
    # The seed runs from the migrate image, which carries the shared library and the script.
    assert (seed["build"], seed["image"]) == (migrate["build"], migrate["image"])
    dockerfile = (REPO / migrate["build"]["dockerfile"]).read_text()
    assert "COPY scripts/seed_demo.py /opt/smartslot/seed_demo.py" in dockerfile


def test_compose_has_make_runs_demo_admin_so_the_readme_example_works_there_too() -> None:
    services = services_of(ROOT_COMPOSE)
    expected = {name: run_sh_default(name)
                for name in ("SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL", "SMARTSLOT_BOOTSTRAP_ADMIN_PASSWORD")}
    for name in ("gateway", "seed"):
        environment = services[name]["environment"]
        assert {key: environment.get(key) for key in expected} == expected, name


def test_make_up_builds_the_images_it_runs_and_seeds_the_demo_data() -> None:
    result = subprocess.run(["make", "--no-print-directory", "-n", "up"], cwd=REPO, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    commands = [line.strip() for line in result.stdout.splitlines()]
    assert "docker compose up --build -d --wait" in commands
    assert commands.index("docker compose run --rm seed") > commands.index("docker compose up --build -d --wait")
