"""The availability, isolation and monitoring objects of deploy/k8s, checked on the rendered overlays: HPAs and PDBs
reach the Deployments, the NetworkPolicies allow exactly the traffic SmartSlot needs, the ServiceMonitors find the
Services, the PrometheusRule is deploy/prometheus/alerts.yml, and every built-in object passes
`kubernetes-validate --strict` (offline: the schemas ship with the package)."""

import importlib.util
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = {"dev": K8S / "overlays" / "dev", "prod": K8S / "overlays" / "prod"}
APPS = {"gateway": 8080, "booking": 8081, "availability": 8082, "waitlist": 8083, "notifier": 8084, "console": 8085}
AUTOSCALED = {"gateway", "availability", "booking"}
# Who may open a connection to whom inside the namespace; None is a client outside the cluster (or namespace).
CALLERS = {"gateway": {None, "console"}, "booking": {"gateway", "waitlist"}, "availability": {"gateway"},
           "waitlist": {"gateway"}, "notifier": {"gateway"}, "console": {"gateway"}}
# The infrastructure outside the namespace, by port: PostgreSQL primary and replica, Redis, RabbitMQ, SMTP, OTLP.
INFRASTRUCTURE_PORTS = (5432, 5433, 6379, 5672, 1025, 587, 4318)
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
NAME = "app.kubernetes.io/name"



# Each overlay's objects, rendered by the overlay fixture the first time a test asks for that overlay.
RENDERED: dict[str, tuple[dict[str, Any], ...]] = {}


@pytest.fixture(name="overlay", params=list(OVERLAYS))
def overlay_fixture(request: pytest.FixtureRequest, kustomize: Callable[[Path], tuple[dict[str, Any], ...]]) -> str:
    """Each overlay's name, once it is rendered."""
    RENDERED[request.param] = kustomize(OVERLAYS[request.param])
    return request.param


def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    return RENDERED[overlay]


def of_kind(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered(overlay) if o["kind"] == kind}


def pod_labels(overlay: str) -> dict[str, dict[str, str]]:
    """Each Deployment's pod template labels."""
    return {name: d["spec"]["template"]["metadata"]["labels"] for name, d in of_kind(overlay, "Deployment").items()}


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector against a label set; the empty selector selects everything."""
    selector = selector or {}
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if not {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]:
            return False
    return True


def port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    return not ports or any(
        p.get("protocol", "TCP") == protocol and (p.get("port") is None or p["port"] == port) for p in ports
    )


def in_block(block: dict[str, Any], address: str | None) -> bool:
    """Whether an ipBlock admits an address outside the cluster (None: some address it admits)."""
    if address is None:
        return True
    ip = ipaddress.ip_address(address)
    cidr = ipaddress.ip_network(block["cidr"])
    return ip.version == cidr.version and ip in cidr and not any(
        ip in ipaddress.ip_network(net) for net in block.get("except", []))


def peer_matches(peers: list[dict[str, Any]] | None, labels: dict[str, str] | None, address: str | None = None) -> bool:
    """Whether a rule's from/to list admits the peer: a pod of this namespace (labels) or, if None, anything else
    (at `address`, when given). Peers here are same-namespace podSelectors, namespaceSelectors for other namespaces
    and ipBlocks for addresses outside the cluster."""
    if not peers:
        return True
    for peer in peers:
        if "ipBlock" in peer:
            if labels is None and in_block(peer["ipBlock"], address):
                return True
            continue
        if "namespaceSelector" in peer:
            continue  # another namespace (monitoring); never a pod of ours, never an outside client
        if labels is not None and selects(peer["podSelector"], labels):
            return True
    return False


def allowed(overlay: str, direction: str, pod: dict[str, str], peer: dict[str, str] | None, port: int,
            protocol: str = "TCP", address: str | None = None) -> bool:
    """NetworkPolicy semantics for one direction: denied if any policy isolates the pod and none admits the peer."""
    policy_type, rules_key, peers_key = {
        "ingress": ("Ingress", "ingress", "from"), "egress": ("Egress", "egress", "to"),
    }[direction]
    isolating = [
        p["spec"] for p in of_kind(overlay, "NetworkPolicy").values()
        if policy_type in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], pod)
    ]
    if not isolating:
        return True
    return any(
        peer_matches(rule.get(peers_key), peer, address) and port_matches(rule.get("ports"), port, protocol)
        for spec in isolating for rule in spec.get(rules_key, [])
    )


def test_hpas_scale_the_request_path_deployments_on_cpu(overlay: str) -> None:
    deployments = of_kind(overlay, "Deployment")
    hpas = of_kind(overlay, "HorizontalPodAutoscaler")
    assert hpas.keys() == AUTOSCALED
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment"), name
        assert target["name"] in deployments, name
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"], name
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert metric["resource"]["target"]["type"] == "Utilization"
        # Utilization is measured against the request, which therefore has to be set.
        for container in deployments[target["name"]]["spec"]["template"]["spec"]["containers"]:
            assert container["resources"]["requests"]["cpu"], name


def test_every_deployment_has_a_pdb_keeping_one_pod(overlay: str) -> None:
    pods = pod_labels(overlay)
    budgets = of_kind(overlay, "PodDisruptionBudget")
    for name, budget in budgets.items():
        assert budget["spec"]["minAvailable"] == 1, name
        assert [d for d, labels in pods.items() if selects(budget["spec"]["selector"], labels)] == [name]
    for name, labels in pods.items():
        assert any(selects(b["spec"]["selector"], labels) for b in budgets.values()), name


def test_namespace_denies_all_traffic_by_default(overlay: str) -> None:
    policies = of_kind(overlay, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert not deny.get("ingress")
    assert not deny.get("egress")
    allows = [p["spec"] for p in policies.values() if p["spec"].get("ingress") or p["spec"].get("egress")]
    for name, labels in pod_labels(overlay).items():
        for direction in ("ingress", "egress"):
            assert any(selects(p["podSelector"], labels) and p.get(direction) for p in allows), (name, direction)


def test_services_take_connections_only_from_their_callers(overlay: str) -> None:
    pods = pod_labels(overlay)
    for name, port in APPS.items():
        for caller in [None, *APPS]:
            expected = caller in CALLERS[name]
            ingress = allowed(overlay, "ingress", pods[name], pods.get(caller), port)
            egress = caller is None or allowed(overlay, "egress", pods[caller], pods[name], port)
            assert (ingress and egress) == expected, f"{caller or 'outside'} -> {name}:{port}"


def test_every_pod_reaches_dns_and_the_infrastructure(overlay: str) -> None:
    for name, labels in pod_labels(overlay).items():
        assert allowed(overlay, "egress", labels, None, 53, "UDP"), name
        assert allowed(overlay, "egress", labels, None, 53, "TCP"), name
        for port in INFRASTRUCTURE_PORTS:
            assert allowed(overlay, "egress", labels, None, port), (name, port)
        if name != "notifier":
            assert not allowed(overlay, "egress", labels, None, 443), name


@pytest.mark.parametrize(("address", "reachable"), [
    ("93.184.215.14", True), ("2606:4700::1111", True),
    ("10.0.0.1", False), ("172.16.0.1", False), ("192.168.1.1", False), ("127.0.0.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("fd00:ec2::254", False), ("::ffff:10.0.0.1", False),
])
def test_the_notifier_reaches_webhooks_at_public_addresses_only(overlay: str, address: str, reachable: bool) -> None:
    notifier = pod_labels(overlay)["notifier"]
    assert allowed(overlay, "egress", notifier, None, 443, address=address) is reachable
    assert allowed(overlay, "egress", notifier, None, 465, address=address)  # SMTP over TLS, the operator's relay
    assert not allowed(overlay, "egress", notifier, None, 80, address=address)


def test_infrastructure_cannot_open_connections_to_the_services(overlay: str) -> None:
    pods = pod_labels(overlay)
    for name, port in APPS.items():
        if None not in CALLERS[name]:
            assert not allowed(overlay, "ingress", pods[name], None, port), name


def test_service_monitors_scrape_metrics_on_a_port_of_their_service(overlay: str) -> None:
    services = of_kind(overlay, "Service")
    monitors = of_kind(overlay, "ServiceMonitor")
    assert monitors.keys() == set(APPS)
    for name, monitor in monitors.items():
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        matched = [s for s in services.values() if selects(monitor["spec"]["selector"], s["metadata"]["labels"])]
        assert [s["metadata"]["name"] for s in matched] == [name]
        port_names = {port["name"] for port in matched[0]["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in port_names, name
            assert endpoint["path"] == "/metrics", name


def test_prometheus_rule_has_the_fields_the_crd_requires(overlay: str) -> None:
    (rule,) = of_kind(overlay, "PrometheusRule").values()
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["name"]
    assert rule["spec"]["groups"]
    for group in rule["spec"]["groups"]:
        assert isinstance(group["name"], str)
        assert group["name"]
        assert group["rules"], group["name"]
        for entry in group["rules"]:
            assert ("alert" in entry) != ("record" in entry), entry
            assert isinstance(entry["expr"], str), entry
            assert entry["expr"].strip(), entry
            assert set(entry) <= {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}


def test_every_builtin_object_passes_strict_schema_validation(overlay: str) -> None:
    version = kubernetes_validate.latest_version()
    for document in rendered(overlay):
        if document["kind"] in CRD_KINDS:
            continue  # no schema ships for them; the tests above check their fields
        kubernetes_validate.validate(document, version, strict=True)
    assert {o["kind"] for o in rendered(overlay)} >= CRD_KINDS


def test_strict_validation_rejects_an_unknown_field(overlay: str) -> None:
    deployment = dict(of_kind(overlay, "Deployment")["booking"])
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate_prometheusrule", K8S / "generate_prometheusrule.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prometheus_rule_is_generated_from_the_alert_rules() -> None:
    generator = _generator()
    assert generator.TARGET.read_text() == generator.render(), "run deploy/k8s/generate_prometheusrule.py"
    checked_in = YAML(typ="safe", pure=True).load(generator.TARGET)
    alerts = YAML(typ="safe", pure=True).load(REPO / "deploy" / "prometheus" / "alerts.yml")
    assert checked_in["spec"]["groups"] == alerts["groups"]
