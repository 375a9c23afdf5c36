"""The compose stacks' third-party images: current releases, pinned, and what Prometheus scrapes of them; and the
broker features SmartSlot relies on, which the local RabbitMQ 3.10 and the compose stack's 4.x both have."""

import ast
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from ruamel.yaml import YAML

from smartslot_common.messaging.topology import main_queue_arguments, retry_queue_arguments

REPO = Path(__file__).resolve().parents[2]
ROOT_COMPOSE = REPO / "docker-compose.yml"
SERVICE_COMPOSES = sorted(REPO.glob("services/*/docker-compose.yml"))
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.compose.yml"
MESSAGING = REPO / "libs" / "common" / "src" / "smartslot_common" / "messaging"
# Exporter service -> (its image without the tag, its port, the variable naming its server, that server).
EXPORTERS = {
    "postgres-exporter": ("quay.io/prometheuscommunity/postgres-exporter", 9187, "DATA_SOURCE_URI", "postgres"),
    "postgres-replica-exporter": (
        "quay.io/prometheuscommunity/postgres-exporter",
        9187,
        "DATA_SOURCE_URI",
        "postgres-replica",
    ),
    "redis-exporter": ("oliver006/redis_exporter", 9121, "REDIS_ADDR", "redis"),
}
RABBITMQ_METRICS = "rabbitmq:15692"
# Queue arguments RabbitMQ 3.10 and 4.x both honour: the x-dead-letter-strategy and x-message-ttl of quorum
# queues came in 3.10; x-max-priority on a quorum queue only in 4.0, classic mirroring (ha-* policies) left in 4.0.
PORTABLE_QUEUE_ARGUMENTS = {
    "x-queue-type",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-delivery-limit",
    "x-dead-letter-strategy",
    "x-overflow",
    "x-message-ttl",
}


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path)


def services_of(path: Path) -> dict[str, dict[str, Any]]:
    return load_yaml(path)["services"]


def pulled_images(path: Path) -> dict[str, str]:
    """Service -> image, for the services that pull theirs rather than build it."""
    return {name: s["image"] for name, s in services_of(path).items() if "image" in s and "build" not in s}


def split_image(image: str) -> tuple[str, str]:
    """(repository, tag): the tag is what follows the last colon after the last slash."""
    repository, _, tag = image.rpartition(":")
    if not repository or "/" in tag:
        return image, ""
    return repository, tag


def major(tag: str) -> int:
    found = re.match(r"v?(\d+)", tag)
    assert found, f"no version in the tag {tag!r}"
    return int(found.group(1))


def scrape_targets() -> dict[str, dict[str, Any]]:
    """Job name -> its metrics path, params and targets."""
    jobs = {}
    for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]:
        targets = {target for static in job.get("static_configs", []) for target in static["targets"]}
        jobs[job["job_name"]] = {
            "path": job.get("metrics_path", "/metrics"),
            "params": job.get("params", {}),
            "targets": targets,
        }
    return jobs


@pytest.mark.parametrize("path", [ROOT_COMPOSE, *SERVICE_COMPOSES], ids=lambda p: str(p.relative_to(REPO)))
def test_every_pulled_image_names_a_release(path: Path) -> None:
    for name, image in pulled_images(path).items():
        _repository, tag = split_image(image)
        assert tag not in ("", "latest"), f"{name}: {image} floats; name a release"


def test_the_stack_runs_current_releases_of_its_tools() -> None:
    images = {name: split_image(image) for name, image in pulled_images(ROOT_COMPOSE).items()}
    # A supported RabbitMQ (4.x), with the management UI that compose publishes.
    repository, tag = images["rabbitmq"]
    assert repository == "rabbitmq"
    assert major(tag) == 4, tag
    assert tag.endswith("-management"), tag
    # Jaeger v2 (the OpenTelemetry collector inside); the 1.x all-in-one image is end of life.
    assert images["jaeger"][0] == "jaegertracing/jaeger"
    assert major(images["jaeger"][1]) == 2
    assert images["prometheus"][0] == "prom/prometheus"
    assert major(images["prometheus"][1]) == 3
    for name, (repository, *_rest) in EXPORTERS.items():
        assert images[name][0] == repository, name


@pytest.mark.parametrize("path", SERVICE_COMPOSES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_compose_file_runs_the_same_broker(path: Path) -> None:
    broker = services_of(ROOT_COMPOSE)["rabbitmq"]["image"]
    services = services_of(path)
    if "rabbitmq" in services:
        assert services["rabbitmq"]["image"] == broker


@pytest.mark.parametrize("name", EXPORTERS)
def test_each_exporter_reads_its_server_once_that_is_healthy(name: str) -> None:
    services = services_of(ROOT_COMPOSE)
    exporter = services[name]
    _image, _port, variable, server = EXPORTERS[name]
    value = str(exporter["environment"][variable])
    host = urlsplit(value if "://" in value else f"//{value}").hostname
    assert host == server, f"{name}: {variable}={value}"
    assert exporter["depends_on"] == {server: {"condition": "service_healthy"}}
    assert "ports" not in exporter, "only Prometheus reads an exporter, over the stack's network"
    # Hardened like the apps.
    assert exporter.get("read_only") is True
    assert exporter.get("cap_drop") == ["ALL"]


def test_prometheus_scrapes_the_exporters_and_the_brokers_own_endpoint() -> None:
    jobs = scrape_targets()
    assert jobs["postgres"]["targets"] == {"postgres-exporter:9187", "postgres-replica-exporter:9187"}
    assert jobs["redis"]["targets"] == {"redis-exporter:9121"}
    assert jobs["rabbitmq"] == {"path": "/metrics", "params": {}, "targets": {RABBITMQ_METRICS}}
    # Per-queue figures (each consumer's backlog) come from the detailed endpoint, only the families asked for.
    queues = jobs["rabbitmq-queues"]
    assert (queues["path"], queues["targets"]) == ("/metrics/detailed", {RABBITMQ_METRICS})
    assert "queue_coarse_metrics" in queues["params"]["family"]


def test_prometheus_keeps_exemplars_with_the_images_own_flags() -> None:
    command = services_of(ROOT_COMPOSE)["prometheus"]["command"]
    assert "--enable-feature=exemplar-storage" in command  # the latency panels' links to traces
    assert {"--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"} <= set(command)


def test_every_scrape_target_is_a_service_of_the_stack_on_a_port_it_serves() -> None:
    services = services_of(ROOT_COMPOSE)
    ports = {name: port for name, (_image, port, _variable, _server) in EXPORTERS.items()}
    ports["rabbitmq"] = 15692
    for job, spec in scrape_targets().items():
        for target in spec["targets"]:
            host, _, port = target.rpartition(":")
            if host == "localhost":
                continue
            assert host in services, f"{job}: {target}"
            if host in ports:
                assert int(port) == ports[host], f"{job}: {target}"


def test_the_compose_prometheus_config_is_valid(promtool: str, tmp_path: Path) -> None:
    # --syntax-only: the rule file it names is a path inside the container.
    config = tmp_path / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG.read_text())
    result = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_queues_take_only_arguments_rabbitmq_3_10_and_4_both_honour(queue_type: str) -> None:
    main = main_queue_arguments("ns.", "notifier", queue_type)
    retry = retry_queue_arguments("ns.", "notifier", 5.0)
    assert set(main) | set(retry) <= PORTABLE_QUEUE_ARGUMENTS
    if queue_type == "quorum":
        # 4.x gives quorum queues a delivery limit of 20 unless they set one.
        assert isinstance(main["x-delivery-limit"], int)


def calls_named(name: str) -> list[ast.Call]:
    found = []
    for path in sorted(MESSAGING.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name:
                found.append(node)
    return found


def keyword_is_true(call: ast.Call, name: str) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords)


def test_no_queue_is_transient_and_shared_nor_prefetch_global() -> None:
    # RabbitMQ 4.3 refuses non-durable non-exclusive queues and global QoS by default.
    declarations = calls_named("declare_queue")
    assert declarations
    for call in declarations:
        assert any(keyword_is_true(call, flag) for flag in ("durable", "passive", "exclusive")), ast.unparse(call)
    for call in calls_named("set_qos"):
        assert not keyword_is_true(call, "global_"), ast.unparse(call)
