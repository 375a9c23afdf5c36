"""The kustomize tree under deploy/k8s: it parses, its references resolve, and every workload is hardened."""

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = {"dev": K8S / "overlays" / "dev", "prod": K8S / "overlays" / "prod"}
APPS = {"gateway": 8080, "booking": 8081, "availability": 8082, "waitlist": 8083, "notifier": 8084, "console": 8085}
NAMESPACE = "smartslot"
# Created outside the repository in production; the dev overlay generates them.
EXTERNAL_SECRETS = {"smartslot-connections", "smartslot-gateway", "smartslot-identity"}
# The gateway signs the identity it forwards with this key, the services behind it verify it; the console reads none.
IDENTITY_KEY_READERS = ("gateway", "booking", "availability", "waitlist", "notifier")
YAML_FILES = sorted([*K8S.rglob("*.yaml"), *K8S.rglob("*.yml")])
KUSTOMIZATIONS = sorted(K8S.rglob("kustomization.yaml"))


def load_all(path: Path) -> list[Any]:
    return [doc for doc in YAML(typ="safe", pure=True).load_all(path) if doc is not None]


def ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(REPO)) for path in paths]


def base_objects() -> list[dict[str, Any]]:
    """Every object the base's resources declare, as written (before kustomize)."""
    kustomization = load_all(BASE / "kustomization.yaml")[0]
    return [doc for resource in kustomization["resources"] for doc in load_all(BASE / resource)]


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def read_env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


Render = Callable[[Path], tuple[dict[str, Any], ...]]
WORKLOADS = [
    pytest.param(o, id=f"{o['kind']}/{o['metadata']['name']}")
    for o in base_objects()
    if o["kind"] in {"Deployment", "Job"}
]
DEPLOYMENTS = [w for w in WORKLOADS if w.values[0]["kind"] == "Deployment"]


@pytest.mark.parametrize("path", YAML_FILES, ids=ids(YAML_FILES))
def test_every_yaml_parses_into_objects_kustomize_understands(path: Path) -> None:
    documents = load_all(path)
    assert documents
    for document in documents:
        if isinstance(document, list):  # a JSON 6902 patch
            assert all({"op", "path"} <= op.keys() for op in document)
            continue
        assert document.get("apiVersion"), path
        assert document.get("kind"), path
        if document["kind"] != "Kustomization":
            assert document["metadata"]["name"], path


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=ids(KUSTOMIZATIONS))
def test_kustomization_references_exist(path: Path) -> None:
    kustomization = load_all(path)[0]
    here = path.parent
    for resource in kustomization.get("resources", []) + kustomization.get("components", []):
        target = here / resource
        assert target.is_file() or (target / "kustomization.yaml").is_file(), resource
    for patch in kustomization.get("patches", []):
        if "path" in patch:
            assert (here / patch["path"]).is_file(), patch["path"]
    for generator in kustomization.get("configMapGenerator", []) + kustomization.get("secretGenerator", []):
        for file in generator.get("envs", []) + generator.get("files", []):
            assert (here / file.split("=")[-1]).is_file(), file


def test_base_declares_every_service_with_its_objects() -> None:
    objects = base_objects()
    kustomization = load_all(BASE / "kustomization.yaml")[0]
    generated = {generator["name"] for generator in kustomization["configMapGenerator"]}
    for kind in ("Deployment", "Service", "ServiceAccount"):
        assert set(APPS) <= of_kind(objects, kind).keys(), kind
    assert {f"{name}-config" for name in APPS} <= generated
    assert of_kind(objects, "Namespace").keys() == {NAMESPACE}
    assert kustomization["namespace"] == NAMESPACE
    assert len(of_kind(objects, "Job")) == 1


def test_base_holds_secret_references_but_no_secret_values() -> None:
    kustomization = load_all(BASE / "kustomization.yaml")[0]
    assert not of_kind(base_objects(), "Secret")
    assert "secretGenerator" not in kustomization


@pytest.mark.parametrize("workload", WORKLOADS)
def test_workload_runs_non_root_read_only_without_capabilities(workload: dict[str, Any]) -> None:
    spec = pod_spec(workload)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]


@pytest.mark.parametrize("workload", WORKLOADS)
def test_workload_has_resource_requests_and_limits(workload: dict[str, Any]) -> None:
    for container in pod_spec(workload)["containers"]:
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= container["resources"][bound].keys(), (container["name"], bound)


@pytest.mark.parametrize("workload", WORKLOADS)
def test_workload_uses_its_own_service_account(workload: dict[str, Any]) -> None:
    accounts = of_kind(base_objects(), "ServiceAccount")
    assert pod_spec(workload)["serviceAccountName"] in accounts


@pytest.mark.parametrize("workload", WORKLOADS)
def test_workload_takes_connection_urls_from_secrets(workload: dict[str, Any]) -> None:
    for container in pod_spec(workload)["containers"]:
        for variable in container.get("env", []):
            if variable["name"].endswith(("_URL", "_SECRET", "_PASSWORD")):
                reference = variable["valueFrom"]["secretKeyRef"]
                assert reference["name"] in EXTERNAL_SECRETS, variable["name"]


@pytest.mark.parametrize("name", IDENTITY_KEY_READERS)
def test_gateway_and_services_share_the_identity_key_from_its_secret(name: str) -> None:
    (container,) = pod_spec(of_kind(base_objects(), "Deployment")[name])["containers"]
    variables = {variable["name"]: variable for variable in container.get("env", [])}
    reference = variables["SMARTSLOT_INTERNAL_IDENTITY_KEY"]["valueFrom"]["secretKeyRef"]
    assert (reference["name"], reference["key"]) == ("smartslot-identity", "internal-identity-key")


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_deployment_probes_liveness_on_healthz_and_readiness_on_readyz(deployment: dict[str, Any]) -> None:
    (container,) = pod_spec(deployment)["containers"]
    port_names = {port["name"] for port in container["ports"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in port_names, probe


@pytest.mark.parametrize("name", APPS)
def test_service_routes_its_port_to_the_pods(name: str) -> None:
    objects = base_objects()
    deployment = of_kind(objects, "Deployment")[name]
    service = of_kind(objects, "Service")[name]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    (container,) = pod_spec(deployment)["containers"]
    container_ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["port"] == APPS[name]
    assert container_ports[port["targetPort"]] == APPS[name]
    assert container["image"] == f"smartslot/{name}"


@pytest.mark.parametrize("name", APPS)
def test_service_config_binds_its_port_on_all_interfaces(name: str) -> None:
    config = read_env_file(BASE / "config" / f"{name}.env")
    assert config[f"SMARTSLOT_{name.upper()}_HOST"] == "0.0.0.0"
    assert config[f"SMARTSLOT_{name.upper()}_PORT"] == str(APPS[name])


def test_upstream_urls_name_the_services_and_their_ports() -> None:
    urls = {
        value
        for name in APPS
        for key, value in read_env_file(BASE / "config" / f"{name}.env").items()
        if key.endswith("_URL")
    }
    assert urls
    for url in urls:
        parts = urlsplit(url)
        assert parts.port == APPS[parts.hostname], url


def test_migrations_job_migrates_every_service() -> None:
    (job,) = of_kind(base_objects(), "Job").values()
    (container,) = pod_spec(job)["containers"]
    assert set(container["args"]) == set(APPS) - {"console"}  # the console owns no schema
    assert pod_spec(job)["restartPolicy"] == "Never"


def test_prod_runs_more_replicas_with_bigger_limits() -> None:
    prod = load_all(OVERLAYS["prod"] / "kustomization.yaml")[0]
    replicas = {entry["name"]: entry["count"] for entry in prod["replicas"]}
    assert replicas.keys() == set(APPS)
    assert min(replicas.values()) >= 2
    (patch,) = load_all(OVERLAYS["prod"] / prod["patches"][0]["path"])
    assert patch[0]["path"].endswith("/resources")
    assert patch[0]["value"]["limits"]["memory"] != "256Mi"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_into_the_namespace(kustomize: Render, overlay: str) -> None:
    objects = kustomize(OVERLAYS[overlay])
    outside = {
        f"{o['kind']}/{o['metadata']['name']}"
        for o in objects
        if o["kind"] != "Namespace" and o["metadata"].get("namespace") != NAMESPACE
    }
    assert not outside
    assert of_kind(objects, "Deployment").keys() == set(APPS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_references_resolve(kustomize: Render, overlay: str) -> None:
    objects = kustomize(OVERLAYS[overlay])
    config_maps = of_kind(objects, "ConfigMap").keys()
    secrets = of_kind(objects, "Secret").keys() | (EXTERNAL_SECRETS if overlay == "prod" else set())
    for workload in [o for o in objects if o["kind"] in {"Deployment", "Job"}]:
        for container in pod_spec(workload)["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
            for variable in container.get("env", []):
                reference = variable.get("valueFrom", {}).get("secretKeyRef")
                assert reference is None or reference["name"] in secrets, variable["name"]


def test_prod_renders_more_replicas_than_dev(kustomize: Render) -> None:
    dev = of_kind(kustomize(OVERLAYS["dev"]), "Deployment")
    prod = of_kind(kustomize(OVERLAYS["prod"]), "Deployment")
    for name in APPS:
        assert prod[name]["spec"]["replicas"] > dev[name]["spec"]["replicas"], name
