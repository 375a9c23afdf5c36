"""deploy/prometheus: the alert rules load, their promtool unit tests pass and see every alert firing and quiet,
both configs load them, every alert links a runbook page that exists, and every metric they name is one the services
export."""

import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
RUNBOOKS = REPO / "docs" / "runbooks"
RUNBOOK_SECTIONS = ("## What it means", "## How to check", "## What to do")
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


def alerts() -> list[dict]:
    return [rule for rule in rules() if "alert" in rule]


def unit_checks() -> list[dict]:
    """Every `alert_rule_test` entry of the promtool unit tests."""
    tests = [test for path in sorted((PROMETHEUS / "tests").glob("*.yml"))
             for test in YAML(typ="safe", pure=True).load(path)["tests"]]
    return [check for test in tests for check in test.get("alert_rule_test", [])]


@pytest.mark.parametrize("config", ["prometheus.local.yml", "prometheus.compose.yml"])
def test_every_target_names_its_environment_in_the_namespace_label(promtool: str, config: str) -> None:
    """The label the dashboards' namespace variable lists and the alerts aggregate by (Kubernetes sets it itself)."""
    result = run(promtool, "check", "config", "--syntax-only", str(PROMETHEUS / config))
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = YAML(typ="safe", pure=True).load(PROMETHEUS / config)["scrape_configs"]
    unlabelled = [job["job_name"] for job in jobs for static in job["static_configs"]
                  if "namespace" not in static.get("labels", {})]
    assert unlabelled == []


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    checks = unit_checks()
    fired = {check["alertname"] for check in checks if check.get("exp_alerts")}
    quiet = {check["alertname"] for check in checks if not check.get("exp_alerts")}
    names = {rule["alert"] for rule in alerts()}
    assert len(names) >= 24
    assert sorted(names - fired) == [], "never seen firing"
    assert sorted(names - quiet) == [], "never seen quiet"
    assert {check["alertname"] for check in checks} <= names, "a test names an alert that does not exist"


def test_every_alert_has_a_severity_and_a_runbook_page_that_exists() -> None:
    linked = set()
    for rule in alerts():
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        url = rule["annotations"].get("runbook_url", "")
        assert Path(url).parent == Path("docs/runbooks"), rule["alert"]
        assert url.endswith(".md"), rule["alert"]
        page = REPO / url
        assert page.is_file(), f"{rule['alert']}: {url} is missing"
        text = page.read_text()
        assert text.startswith(f"# {rule['alert']}\n"), f"{url} is titled with its alert's name"
        assert all(section in text for section in RUNBOOK_SECTIONS), f"{url} lacks one of {RUNBOOK_SECTIONS}"
        linked.add(page.name)
    pages = {path.name for path in RUNBOOKS.glob("*.md")} - {"README.md"}
    assert pages == linked, "a runbook page no alert links"


def test_every_runbook_names_only_exported_metrics(exported, names_in) -> None:
    """The metric names an on-call engineer is told to query exist (recording rules included)."""
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    for page in sorted(RUNBOOKS.glob("*.md")):
        named = names_in(page.read_text())
        assert named - exported - recorded - NOT_EXPORTED == set(), page.name


def test_rules_name_only_exported_metrics(exported, names_in, exporter_metrics, exporter_names) -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    named = {name for rule in rules() for name in names_in(rule["expr"])}
    assert "smartslot_invariant_violations" in named
    assert named - exported - recorded - NOT_EXPORTED == set()
    from_exporters = {name for rule in rules() for name in exporter_names(rule["expr"])}
    assert {"pg_up", "redis_up"} <= from_exporters
    assert from_exporters - exporter_metrics == set()
