"""deploy/k8s/monitoring: Grafana on Kubernetes, rendered as kustomize renders it, valid in
strict mode, locked down like the apps, and serving deploy/grafana/ word for word (its
ConfigMaps are written from those files: `python -m tests.deploy.test_grafana_k8s`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

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
GRAFANA = ROOT / "deploy" / "grafana"
MONITORING = ROOT / "deploy" / "k8s" / "monitoring"
CONFIGMAPS = MONITORING / "configmaps.yaml"
# ConfigMap name -> the folder of deploy/grafana/ it holds, file by file.
SOURCES = {
    "grafana-datasources": GRAFANA / "provisioning" / "datasources",
    "grafana-dashboard-providers": GRAFANA / "provisioning" / "dashboards",
    "grafana-dashboards": GRAFANA / "dashboards",
}
HEADER = (
    "# Written by `python -m tests.deploy.test_grafana_k8s` from deploy/grafana/: do not edit;\n"
    "# edit deploy/grafana/ and regenerate (tests/deploy/test_grafana_k8s.py checks they agree).\n"
)


def configmaps_text() -> str:
    docs = []
    for name, folder in SOURCES.items():
        data = {path.name: path.read_text() for path in sorted(folder.iterdir()) if path.is_file()}
        doc = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "labels": {
                    "app.kubernetes.io/part-of": "micro",
                    "app.kubernetes.io/component": "monitoring",
                },
            },
            "data": data,
        }
        docs.append(yaml.safe_dump(doc, sort_keys=False, width=1000))
    return HEADER + "---\n".join(docs)


def rendered() -> list[Resource]:
    return build(MONITORING)


def grafana() -> dict[str, Any]:
    return app_container(of_kind(rendered(), "Deployment")["grafana"])


def test_the_configmaps_are_the_files_of_deploy_grafana() -> None:
    assert CONFIGMAPS.read_text() == configmaps_text(), (
        f"regenerate: {sys.executable} -m tests.deploy.test_grafana_k8s"
    )
    maps = of_kind(rendered(), "ConfigMap")
    for name, folder in SOURCES.items():
        files = {p.name: p.read_text() for p in folder.iterdir() if p.is_file()}
        assert maps[name]["data"] == files, name
    assert len(maps["grafana-dashboards"]["data"]) == 4


def test_every_resource_is_valid_kubernetes_in_strict_mode_in_monitoring() -> None:
    for resource in rendered():
        kubernetes_validate.validate(resource, KUBERNETES, strict=True)
        assert resource["metadata"]["namespace"] == "monitoring"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on this machine")
def test_the_renderer_agrees_with_kubectl_kustomize() -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(MONITORING)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    theirs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out) if d}
    assert {(d["kind"], d["metadata"]["name"]): d for d in rendered()} == theirs


def test_the_deployment_is_locked_down_and_probed() -> None:
    deployment = of_kind(rendered(), "Deployment")["grafana"]
    pod = pod_spec(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    container = app_container(deployment)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert container["image"] == compose["services"]["grafana"]["image"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    for bound in ("requests", "limits"):
        assert set(container["resources"][bound]) == {"cpu", "memory"}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] == "/api/health", probe
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    for path in ("/var/lib/grafana", "/tmp"):
        assert "emptyDir" in volumes[mounts[path]], path
    for name in SOURCES:
        assert name in {v.get("configMap", {}).get("name") for v in volumes.values()}


def test_the_admin_password_is_a_secret_reference_in_the_example() -> None:
    env = {item["name"]: item for item in grafana()["env"]}
    ref = env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref["key"] in example_secrets().get(ref["name"], set())
    assert env["PROMETHEUS_URL"]["value"].startswith("http://prometheus.")


def test_the_service_reaches_grafana() -> None:
    service = of_kind(rendered(), "Service")["grafana"]
    labels = of_kind(rendered(), "Deployment")["grafana"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"


if __name__ == "__main__":
    CONFIGMAPS.write_text(configmaps_text())
