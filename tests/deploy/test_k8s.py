"""deploy/k8s: rendered as kustomize renders it, valid Kubernetes (strict schemas of a current
release, offline), and held to the rules an operator relies on, each checked against the
code (settings classes, the Dockerfile, the secrets the apps require), not a second list."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cli.apps import settings_class
from gateway.settings import GatewaySettings
from shared import secrets
from shared.settings import APPS, HTTP_PORTS, SERVICES, SHARED_FIELDS, DatabaseSettings
from tests.support.kustomize import (
    KUBERNETES,
    Resource,
    app_container,
    build,
    example_secrets,
    of_kind,
    pod_spec,
)

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
SCRAPE = K8S / "prometheus" / "scrape-configs.yaml"


def rendered(overlay: str) -> list[Resource]:
    return build(K8S / "overlays" / overlay)


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def containers(resources: list[Resource]) -> list[tuple[Resource, dict[str, Any]]]:
    out: list[tuple[Resource, dict[str, Any]]] = []
    for resource in resources:
        if resource["kind"] in {"Deployment", "Job"}:
            pod = pod_spec(resource)
            out.extend((resource, c) for c in [*pod.get("initContainers", []), *pod["containers"]])
    return out


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_is_valid_kubernetes_in_strict_mode(overlay: str) -> None:
    for resource in rendered(overlay):
        kubernetes_validate.validate(resource, KUBERNETES, strict=True)


def test_strict_validation_refuses_an_unknown_field() -> None:
    deployment = of_kind(rendered("dev"), "Deployment")["gateway"]
    app_container(deployment)["livenessProbe"]["httpGet"]["pth"] = "/health"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this machine")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_renderer_agrees_with_kubectl_kustomize(overlay: str) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    theirs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out) if d}
    ours = {(d["kind"], d["metadata"]["name"]): d for d in rendered(overlay)}
    assert ours == theirs


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_app_is_a_deployment_with_a_service(overlay: str) -> None:
    resources = rendered(overlay)
    deployments = of_kind(resources, "Deployment")
    services = of_kind(resources, "Service")
    assert set(deployments) == set(APPS) == set(services)
    for app in APPS:
        container = app_container(deployments[app])
        assert container["command"] == ["micro", "serve", app]
        assert container["ports"][0] == {"name": "http", "containerPort": HTTP_PORTS[app]}
        ports = {p["name"]: p for p in services[app]["spec"]["ports"]}
        assert ports["http"]["port"] == HTTP_PORTS[app]
        selector = services[app]["spec"]["selector"]
        assert (
            selector.items() <= deployments[app]["spec"]["template"]["metadata"]["labels"].items()
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_probes_resources_and_a_locked_down_pod(overlay: str) -> None:
    user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "deploy" / "Dockerfile").read_text(), re.M)
    assert user is not None
    for name, deployment in of_kind(rendered(overlay), "Deployment").items():
        pod = pod_spec(deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == int(user[1]), name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["terminationGracePeriodSeconds"] >= 30, name
        assert pod["topologySpreadConstraints"], name
        container = app_container(deployment)
        assert container["startupProbe"]["httpGet"]["path"] == "/health", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/health", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready", name
        # The endpoint is gone from every load balancer before the server stops taking work.
        assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep", name
    for owner, container in containers(rendered(overlay)):
        where = f"{owner['kind']}/{owner['metadata']['name']}/{container['name']}"
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) == {"cpu", "memory"}, where
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, where
        assert context["allowPrivilegeEscalation"] is False, where
        assert context["capabilities"]["drop"] == ["ALL"], where


def test_no_latest_or_untagged_image_in_production() -> None:
    for owner, container in containers(rendered("production")):
        tag = container["image"].partition(":")[2]
        assert tag not in {"", "latest"}, f"{owner['metadata']['name']}: {container['image']}"


def test_production_runs_the_release_of_this_code() -> None:
    version = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version is not None
    images = {container["image"] for _, container in containers(rendered("production"))}
    assert images == {f"micro:{version[1]}"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_disruption_budget_and_an_autoscaler_for_every_app_with_more_than_one_replica(
    overlay: str,
) -> None:
    resources = rendered(overlay)
    budgets = of_kind(resources, "PodDisruptionBudget")
    scalers = of_kind(resources, "HorizontalPodAutoscaler")
    for name, deployment in of_kind(resources, "Deployment").items():
        replicas = deployment["spec"]["replicas"]
        if replicas == 1:
            # A budget over one replica only blocks node drains.
            assert name not in budgets, name
            assert name not in scalers, name
            continue
        labels = deployment["spec"]["selector"]["matchLabels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"] == labels
        assert budgets[name]["spec"]["maxUnavailable"] < replicas
        scaler = scalers[name]["spec"]
        assert scaler["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert scaler["minReplicas"] == replicas <= scaler["maxReplicas"], name
    counts = {n: d["spec"]["replicas"] for n, d in of_kind(resources, "Deployment").items()}
    if overlay == "dev":
        assert set(counts.values()) == {1}
    else:
        assert min(counts.values()) >= 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_referenced_secret_key_is_in_the_example(overlay: str) -> None:
    example = example_secrets()
    for owner, container in containers(rendered(overlay)):
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in example.get(ref["name"], set()), (
                    f"{owner['metadata']['name']}: {ref}"
                )
        assert "envFrom" not in container


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_comes_from_a_secret_never_inline(overlay: str) -> None:
    secret_names = {purpose.env for purpose in secrets.PURPOSES} | {
        f"MICRO_{service.upper()}_{suffix}"
        for service in SERVICES
        for suffix in ("DATABASE_URL", "MIGRATION_DATABASE_URL")
    }
    secret_names.add("MICRO_REDIS_URL")
    for owner, container in containers(rendered(overlay)):
        for name, item in env_of(container).items():
            if name in secret_names:
                assert "value" not in item, f"{owner['metadata']['name']}: {name} inline"


def _resolved_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment, its Secret references filled with values the apps accept."""
    generated = secrets.generate()
    out = {}
    for name, item in env_of(container).items():
        if "value" in item:
            out[name] = item["value"]
        elif "secretKeyRef" in item.get("valueFrom", {}):
            service = name.removeprefix("MICRO_").split("_")[0].lower()
            if name.endswith("MIGRATION_DATABASE_URL"):
                out[name] = f"postgres://micro:pw@{service}-db:5432/{service}"
            elif name.endswith("DATABASE_URL"):
                out[name] = f"postgres://{service}_app:pw@{service}-db:5432/{service}"
            elif name == "MICRO_REDIS_URL":
                out[name] = "redis://redis:6379/0"
            else:
                out[name] = generated[name]
    return out


def _field_names(app: str) -> set[str]:
    kind = settings_class(app)
    prefix = f"MICRO_{app.upper()}_"
    own = {prefix + field.upper() for field in kind.model_fields if field not in SHARED_FIELDS}
    return own | {f"MICRO_{field.upper()}" for field in SHARED_FIELDS}


@pytest.mark.parametrize("app", APPS)
def test_the_env_each_app_reads_matches_its_settings_class(
    app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    deployment = of_kind(rendered("production"), "Deployment")[app]
    container = app_container(deployment)
    env = _resolved_env(container)
    unknown = set(env) - _field_names(app)
    assert not unknown, f"{app} sets env its settings do not read: {sorted(unknown)}"
    for name in list(os.environ):
        if name.startswith("MICRO_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings: Any = settings_class(app)()  # refuses a missing or unusable secret
    assert (settings.host, settings.port) == ("0.0.0.0", HTTP_PORTS[app])
    if isinstance(settings, DatabaseSettings):
        assert settings.migrate_on_start is False
        assert settings.database_url.startswith(f"postgres://{app}_app:")
    for other in SERVICES:
        if f"{other}_url" in type(settings).model_fields:
            assert getattr(settings, f"{other}_url") == f"http://{other}:{HTTP_PORTS[other]}"
    if isinstance(settings, GatewaySettings):
        metrics = {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"]
        assert (settings.metrics_host, settings.metrics_port) == ("0.0.0.0", metrics)


@pytest.mark.parametrize("service", SERVICES)
def test_one_migration_job_per_service_runs_as_the_owner_and_apps_wait_for_it(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    resources = rendered("production")
    job = of_kind(resources, "Job")[f"{service}-migrate"]
    (container,) = pod_spec(job)["containers"]
    assert container["command"] == ["micro", "db", "migrate", service]
    env = env_of(container)
    owner = env[f"MICRO_{service.upper()}_MIGRATION_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert owner["name"] == "micro-migrations"
    # The Job needs the owner's DSN, not the app's.
    assert f"MICRO_{service.upper()}_DATABASE_URL" not in env
    for name in list(os.environ):
        if name.startswith("MICRO_"):
            monkeypatch.delenv(name)
    for name, value in _resolved_env(container).items():
        monkeypatch.setenv(name, value)
    settings: Any = settings_class(service)()
    assert settings.app_role == f"{service}_app"
    assert settings.migration_database_url.startswith("postgres://micro:")
    deployment = of_kind(resources, "Deployment")[service]
    (wait,) = pod_spec(deployment)["initContainers"]
    assert wait["command"][:4] == ["micro", "db", "wait", service]
    assert env_of(wait) == env_of(app_container(deployment))


def test_no_app_can_read_an_owners_dsn() -> None:
    for overlay in OVERLAYS:
        for owner, container in containers(rendered(overlay)):
            if owner["kind"] == "Job":
                continue
            refs = {
                item["valueFrom"]["secretKeyRef"]["name"]
                for item in container.get("env", [])
                if "secretKeyRef" in item.get("valueFrom", {})
            }
            assert refs == {"micro"}, owner["metadata"]["name"]


def _callers(service: str) -> set[str]:
    """The apps whose settings name the service's URL: the only ones that call it."""
    return {app for app in APPS if f"{service}_url" in settings_class(app).model_fields}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_takes_traffic_from_outside_each_service_only_from_its_callers(
    overlay: str,
) -> None:
    resources = rendered(overlay)
    policies = of_kind(resources, "NetworkPolicy")
    deny = policies.pop("default-deny-ingress")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    assert set(policies) == set(APPS)
    monitoring = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    }
    gateway = policies.pop("gateway")["spec"]["ingress"]
    assert gateway[0] == {"ports": [{"port": "http"}]}  # from anywhere
    assert gateway[1] == {"from": [monitoring], "ports": [{"port": "metrics"}]}
    for service, policy in policies.items():
        (rule,) = policy["spec"]["ingress"]
        assert rule["ports"] == [{"port": "http"}]
        peers = [peer for peer in rule["from"] if peer != monitoring]
        names = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in peers}
        assert names == _callers(service), service
        assert _callers(service) >= {"gateway"}


def test_the_ingress_reaches_the_gateway_and_keeps_websockets_open() -> None:
    resources = rendered("production")
    (ingress,) = of_kind(resources, "Ingress").values()
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "gateway", "port": {"name": "http"}}
    idle = int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"])
    assert idle > 4 * GatewaySettings.model_fields["relay_ping_seconds"].default
    assert ingress["spec"]["tls"][0]["hosts"] == [rule["host"]]


def _kept(relabel: list[dict[str, Any]], labels: dict[str, str]) -> bool:
    for step in relabel:
        if step.get("action", "replace") != "keep":
            continue
        value = ";".join(labels.get(name, "") for name in step["source_labels"])
        if not re.fullmatch(step["regex"], value):
            return False
    return True


def test_prometheus_scrapes_each_apps_metrics_port_and_nothing_else() -> None:
    (job,) = yaml.safe_load(SCRAPE.read_text())
    relabel = job["relabel_configs"]
    scraped = set()
    for owner, container in containers(rendered("production")):
        template = owner["spec"]["template"]["metadata"]["labels"]
        for port in container.get("ports", []):
            labels = {
                "__meta_kubernetes_pod_label_" + re.sub(r"[./-]", "_", k): v
                for k, v in template.items()
            }
            labels["__meta_kubernetes_pod_container_port_name"] = port["name"]
            if _kept(relabel, labels):
                scraped.add((owner["metadata"]["name"], port["containerPort"]))
    expected = {(app, HTTP_PORTS[app]) for app in SERVICES}
    expected.add(("gateway", GatewaySettings.model_fields["metrics_port"].default))
    assert scraped == expected
    assert job["kubernetes_sd_configs"][0]["namespaces"]["names"] == [
        of_kind(rendered("production"), "Deployment")["gateway"]["metadata"]["namespace"]
    ]
