"""deploy/grafana: the dashboards are what generate.py writes, are provisioned, every PromQL expression parses
(promtool, through a throwaway rules file) and every metric it names is one the services export."""

import importlib.util
import json
import subprocess
from pathlib import Path

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def load_generator():
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expressions() -> list[str]:
    return [target["expr"] for path in DASHBOARDS for panel in json.loads(path.read_text())["panels"]
            for target in panel["targets"]]


def test_the_five_dashboards_are_generated_and_current() -> None:
    generator = load_generator()
    assert {path.stem for path in DASHBOARDS} == {"overview", "booking", "events", "waitlist", "notifier"}
    for path in DASHBOARDS:
        assert path.read_text() == generator.render(path.stem), f"run python deploy/grafana/generate.py ({path.name})"


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


def test_every_metric_is_exported(exported, names_in) -> None:
    named = {name for expr in expressions() for name in names_in(expr)}
    assert len(named) > 30
    assert named - exported == set()
