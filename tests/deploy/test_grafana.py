"""deploy/grafana: the dashboards are what generate.py writes, are valid JSON and provisioned, every PromQL
expression parses (promtool, through a throwaway rules file), every metric it names is one the services or the
PostgreSQL, Redis and RabbitMQ exporters export, every selector is scoped to the namespace variable, and the
latency panels link their exemplars to traces."""

import importlib.util
import json
import re
import subprocess
from pathlib import Path

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
# A metric selector: a SmartSlot or exporter metric name (or `up`) and its optional matchers; not a function call.
SELECTOR = re.compile(r"\b((?:smartslot|pg|redis|rabbitmq)_[a-z0-9_]+|up)\b(\{[^}]*\})?(?!\s*\()")


def load_generator():
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def targets() -> list[dict]:
    return [target for path in DASHBOARDS for panel in json.loads(path.read_text())["panels"]
            for target in panel.get("targets", [])]


def expressions() -> list[str]:
    return [target["expr"] for target in targets()]


def test_the_six_dashboards_are_generated_and_current() -> None:
    generator = load_generator()
    assert {path.stem for path in DASHBOARDS} == {
        "overview", "booking", "events", "waitlist", "notifier", "infrastructure"
    }
    for path in DASHBOARDS:
        assert path.read_text() == generator.render(path.stem), f"run python deploy/grafana/generate.py ({path.name})"


def test_every_dashboard_is_valid_json_with_the_namespace_variable() -> None:
    for path in DASHBOARDS:
        model = json.loads(path.read_text())
        variables = {variable["name"]: variable for variable in model["templating"]["list"]}
        assert variables["namespace"]["type"] == "query", path.name
        assert variables["namespace"]["query"]["query"] == "label_values(up, namespace)", path.name
        assert variables["namespace"]["includeAll"], path.name
        assert len({panel["id"] for panel in model["panels"]}) == len(model["panels"]), path.name


def test_every_selector_of_every_query_is_scoped_to_the_namespace_variable() -> None:
    selectors = [match for expr in expressions() for match in SELECTOR.finditer(expr)]
    assert len(selectors) > 80
    unscoped = [match[0] for match in selectors if 'namespace=~"$namespace"' not in (match[2] or "")]
    assert unscoped == []


def test_latency_panels_ask_for_exemplars_and_the_datasource_links_them_to_traces() -> None:
    latency = [target for target in targets() if "histogram_quantile" in target["expr"]]
    assert len(latency) >= 10
    assert all(target.get("exemplar") is True for target in latency)
    sources = YAML(typ="safe", pure=True).load(GRAFANA / "provisioning" / "datasources" / "datasources.yml")
    by_type = {source["type"]: source for source in sources["datasources"]}
    destinations = by_type["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert destinations == [{"name": "trace_id", "datasourceUid": by_type["jaeger"]["uid"]}]


def test_the_infrastructure_dashboard_reads_postgres_redis_and_rabbitmq_exporters(exporter_names) -> None:
    infrastructure = json.loads((GRAFANA / "dashboards" / "infrastructure.json").read_text())
    named = {name for panel in infrastructure["panels"] for target in panel.get("targets", [])
             for name in exporter_names(target["expr"])}
    assert {name.split("_")[0] for name in named} == {"pg", "redis", "rabbitmq"}
    rows = [panel["title"] for panel in infrastructure["panels"] if panel["type"] == "row"]
    assert [title.split()[0] for title in rows] == ["PostgreSQL", "Redis", "RabbitMQ"]


def test_dashboards_are_provisioned() -> None:
    provider = YAML(typ="safe", pure=True).load(GRAFANA / "provisioning" / "dashboards" / "dashboards.yml")
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/smartslot"
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards/smartslot:ro" in (
        REPO / "docker-compose.yml").read_text()


def test_every_expression_parses(promtool: str, tmp_path: Path) -> None:
    # Grafana's $__rate_interval is not PromQL; promtool sees a fixed range in its place.
    rules = [{"record": f"smartslot:dashboard_{index}", "expr": expr.replace("$__rate_interval", "5m")}
             for index, expr in enumerate(expressions())]
    path = tmp_path / "dashboards.rules.yml"
    with path.open("w") as stream:
        YAML(typ="safe", pure=True).dump({"groups": [{"name": "dashboards", "rules": rules}]}, stream)
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_metric_is_exported(exported, names_in, exporter_metrics, exporter_names) -> None:
    named = {name for expr in expressions() for name in names_in(expr)}
    assert len(named) > 30
    assert named - exported == set()
    from_exporters = {name for expr in expressions() for name in exporter_names(expr)}
    assert from_exporters - exporter_metrics == set()
