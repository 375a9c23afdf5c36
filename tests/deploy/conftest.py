"""Fixtures of the deploy tests: the metric names the services export (read from the default registry after
importing every `metrics.py`) and those of the PostgreSQL, Redis and RabbitMQ exporters, the names a PromQL
expression selects, and the tools that check the manifests (promtool, kustomize). A missing tool fails the tests
that need it: `make test-tools` installs them."""

import importlib
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from ruamel.yaml import YAML

METRIC_MODULES = (
    "smartslot_common.metrics", "smartslot_common.runtime_metrics", "gateway.metrics", "booking.metrics",
    "availability.metrics", "waitlist.metrics", "notifier.metrics", "console.metrics",
)
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}
# smartslot_* names and recording rules (level:metric:operations); PromQL keywords never match these.
_NAME = re.compile(r"\b(smartslot:[a-z0-9_:]+|smartslot_[a-z0-9_]+|up)\b(?!\s*\()")
# The PostgreSQL, Redis and RabbitMQ exporters' names a PromQL expression selects.
_EXPORTER_NAME = re.compile(r"\b((?:pg|redis|rabbitmq)_[a-z0-9_]+)\b(?!\s*\()")
# What the exporters the stack runs expose under their default settings and the dashboards and alerts use
# (postgres_exporter v0.20 default collectors, redis_exporter v1.88, RabbitMQ 4's rabbitmq_prometheus on /metrics and,
# per queue, /metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count).
EXPORTER_METRICS = frozenset({
    "pg_up", "pg_stat_activity_count", "pg_settings_max_connections", "pg_stat_database_xact_commit",
    "pg_stat_database_xact_rollback", "pg_stat_database_blks_hit", "pg_stat_database_blks_read",
    "pg_stat_database_deadlocks", "pg_stat_database_conflicts", "pg_locks_count", "pg_replication_lag_seconds",
    "pg_database_size_bytes",
    "redis_up", "redis_commands_processed_total", "redis_commands_duration_seconds_total", "redis_commands_total",
    "redis_memory_used_bytes", "redis_memory_max_bytes", "redis_connected_clients", "redis_blocked_clients",
    "redis_keyspace_hits_total", "redis_keyspace_misses_total", "redis_expired_keys_total", "redis_evicted_keys_total",
    "rabbitmq_global_messages_received_total", "rabbitmq_global_messages_delivered_total",
    "rabbitmq_detailed_queue_messages_ready", "rabbitmq_detailed_queue_messages_unacked",
    "rabbitmq_detailed_queue_consumers", "rabbitmq_connections", "rabbitmq_channels",
    "rabbitmq_alarms_memory_used_watermark", "rabbitmq_alarms_free_disk_space_watermark",
    "rabbitmq_process_resident_memory_bytes", "rabbitmq_resident_memory_limit_bytes",
})


@cache
def exported_names() -> frozenset[str]:
    """Every sample name a SmartSlot process can expose."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
    return frozenset(name for name in names if name.startswith("smartslot_"))


def metric_names(expr: str) -> set[str]:
    """The metric (and recording rule) names a PromQL expression selects."""
    return set(_NAME.findall(expr))


def exporter_metric_names(expr: str) -> set[str]:
    """The exporter metric names (pg_*, redis_*, rabbitmq_*) a PromQL expression selects."""
    return set(_EXPORTER_NAME.findall(expr))


@pytest.fixture(name="exporter_metrics")
def exporter_metrics_fixture() -> frozenset[str]:
    return EXPORTER_METRICS


@pytest.fixture(name="exporter_names")
def exporter_names_fixture() -> Callable[[str], set[str]]:
    return exporter_metric_names


@pytest.fixture(name="exported")
def exported_fixture() -> frozenset[str]:
    return exported_names()


@pytest.fixture(name="names_in")
def names_in_fixture() -> Callable[[str], set[str]]:
    return metric_names


@pytest.fixture(name="promtool", scope="session")
def promtool_fixture() -> str:
    """promtool's path (Debian's prometheus package)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: `make test-tools` installs Debian's prometheus package", pytrace=False)
    return path


def kustomize_command() -> list[str]:
    """How to render a kustomization: .venv's kubectl (make test-tools puts one there when the machine has no
    usable one), else kubectl or kustomize on PATH."""
    venv_kubectl = Path(sys.executable).parent / "kubectl"
    if venv_kubectl.is_file():
        return [str(venv_kubectl), "kustomize"]
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build"]
    pytest.fail("rendering deploy/k8s needs kubectl or kustomize: `make test-tools` installs kubectl", pytrace=False)


@pytest.fixture(name="kustomize", scope="session")
def kustomize_fixture() -> Callable[[Path], tuple[dict[str, Any], ...]]:
    """Renders a kustomization directory into its objects (each directory once per session)."""
    command = kustomize_command()

    @cache
    def render(directory: Path) -> tuple[dict[str, Any], ...]:
        result = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, f"{' '.join(command)} {directory}: {result.stderr}"
        return tuple(doc for doc in YAML(typ="safe", pure=True).load_all(result.stdout) if doc is not None)

    return render
