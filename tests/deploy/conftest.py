"""Fixtures of the deploy tests: the metric names the services export (read from the default registry after
importing every `metrics.py`) and the names a PromQL expression selects."""

import importlib
import re
from collections.abc import Callable
from functools import cache

import pytest
from prometheus_client import REGISTRY

METRIC_MODULES = (
    "smartslot_common.metrics", "smartslot_common.runtime_metrics", "gateway.metrics", "booking.metrics",
    "availability.metrics", "waitlist.metrics", "notifier.metrics",
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
