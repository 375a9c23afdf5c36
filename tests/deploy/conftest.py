"""Fixtures of the deploy tests: the metric names the services export (read from the default registry after
importing every `metrics.py`), the names a PromQL expression selects, and the tools that check the manifests
(promtool, kustomize). A missing tool fails the tests that need it: `make test-tools` installs them."""

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
