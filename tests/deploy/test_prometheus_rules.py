"""deploy/prometheus: the alert rules load, their promtool unit tests pass, both configs load them, and every
metric they name is one the services export."""

import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
# Series Prometheus itself makes, and recording rules defined in alerts.yml.
NOT_EXPORTED = {"up"}


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, check=False)


def rules() -> list[dict]:
    groups = YAML(typ="safe", pure=True).load(ALERTS)["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_rules_are_valid(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("unit", sorted((PROMETHEUS / "tests").glob("*.yml")), ids=lambda path: path.name)
def test_rule_unit_tests_pass(promtool: str, unit: Path) -> None:
    result = run(promtool, "test", "rules", str(unit))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("config", ["prometheus.local.yml", "prometheus.compose.yml"])
def test_both_configs_load_the_rules(config: str) -> None:
    rule_files = YAML(typ="safe", pure=True).load(PROMETHEUS / config)["rule_files"]
    assert [Path(path).name for path in rule_files] == ["alerts.yml"]


def test_every_alert_is_unit_tested() -> None:
    tested = "".join(path.read_text() for path in (PROMETHEUS / "tests").glob("*.yml"))
    untested = [rule["alert"] for rule in rules() if "alert" in rule and f"alertname: {rule['alert']}" not in tested]
    assert untested == ["BookingLatencyBudgetBurnSlow", "BookingErrorBudgetBurnSlow", "ConsumerBacklogGrowing"]


def test_rules_name_only_exported_metrics(exported, names_in) -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    named = {name for rule in rules() for name in names_in(rule["expr"])}
    assert "smartslot_invariant_violations" in named
    assert named - exported - recorded - NOT_EXPORTED == set()
