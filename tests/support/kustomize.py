"""`kustomize build` for the part of kustomize deploy/k8s uses, so the manifests are rendered
and checked in `make test` on a machine without the kustomize binary.

What it implements, as kustomize documents it: `resources` (files, and folders holding a
kustomization), `namespace`, `labels` (with `includeTemplates`; selectors left alone when
`includeSelectors` is false), `images` (`newName`, `newTag`), `replicas`, and `patches`: a
strategic-merge patch from `path` or inline `patch`, applied to the resources its `target`
selects (kind, name) or, with no target, to the resource of its own kind and name; `$patch:
delete` removes them; lists of named items (containers, env, ports, volumes) merge by
name, other lists are replaced. Anything else in a kustomization is refused, so a manifest
that starts using more of kustomize fails here until this learns it.
`tests/deploy/test_k8s.py` compares the result with `kubectl kustomize` where one is
installed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

KNOWN_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "replicas",
    "patches",
}
# Kinds kustomize treats as cluster-wide (no namespace set on them) that deploy/k8s could use.
CLUSTER_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}
# Lists whose items merge by `name` in a strategic-merge patch (the rest are replaced).
MERGE_BY_NAME = {"containers", "initContainers", "env", "ports", "volumes", "volumeMounts"}

Resource = dict[str, Any]


class KustomizeError(ValueError):
    pass


def build(folder: Path) -> list[Resource]:
    """The resources `kustomize build folder` prints, in the order they were listed."""
    path = folder / "kustomization.yaml"
    spec = yaml.safe_load(path.read_text())
    unknown = set(spec) - KNOWN_FIELDS
    if unknown:
        raise KustomizeError(f"{path}: fields this renderer does not know: {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        target = folder / entry
        if target.is_dir():
            resources.extend(build(target))
        else:
            resources.extend(doc for doc in yaml.safe_load_all(target.read_text()) if doc)
    for patch in spec.get("patches", []):
        resources = _patch(folder, resources, patch)
    for label in spec.get("labels", []):
        if label.get("includeSelectors", False):
            raise KustomizeError(f"{path}: includeSelectors is not implemented")
        for resource in resources:
            resource["metadata"].setdefault("labels", {}).update(label["pairs"])
            if label.get("includeTemplates") and resource["kind"] in WORKLOADS:
                template = resource["spec"]["template"].setdefault("metadata", {})
                template.setdefault("labels", {}).update(label["pairs"])
    for image in spec.get("images", []):
        for resource in resources:
            _set_image(resource, image)
    for replicas in spec.get("replicas", []):
        found = [r for r in resources if r["metadata"]["name"] == replicas["name"]]
        found = [r for r in found if r["kind"] in {"Deployment", "StatefulSet", "ReplicaSet"}]
        if not found:
            raise KustomizeError(f"{path}: no workload named {replicas['name']} for replicas")
        for resource in found:
            resource["spec"]["replicas"] = replicas["count"]
    if "namespace" in spec:
        for resource in resources:
            if resource["kind"] not in CLUSTER_KINDS:
                resource["metadata"]["namespace"] = spec["namespace"]
    return resources


def _patch(folder: Path, resources: list[Resource], entry: dict[str, Any]) -> list[Resource]:
    text = (folder / entry["path"]).read_text() if "path" in entry else entry["patch"]
    out = resources
    for patch in (doc for doc in yaml.safe_load_all(text) if doc):
        target = entry.get("target") or {
            "kind": patch["kind"],
            "name": patch["metadata"]["name"],
        }
        selected = [r for r in out if _selected(r, target)]
        if not selected:
            raise KustomizeError(f"patch {entry} selects nothing")
        if patch.get("$patch") == "delete":
            out = [r for r in out if not any(r is s for s in selected)]
            continue
        body = {k: v for k, v in patch.items() if k not in {"apiVersion", "kind"}}
        body["metadata"] = {k: v for k, v in body.get("metadata", {}).items() if k != "name"}
        for resource in selected:
            _merge(resource, copy.deepcopy(body))
    return out


def _selected(resource: Resource, target: dict[str, Any]) -> bool:
    return all(
        resource["kind"] == value if key == "kind" else resource["metadata"]["name"] == value
        for key, value in target.items()
    )


def _merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif key in MERGE_BY_NAME and isinstance(value, list) and isinstance(into.get(key), list):
            by_name = {item["name"]: item for item in into[key]}
            for item in value:
                if item["name"] in by_name:
                    _merge(by_name[item["name"]], item)
                else:
                    into[key].append(item)
        else:
            into[key] = value


def _set_image(resource: Resource, image: dict[str, Any]) -> None:
    if resource["kind"] not in WORKLOADS:
        return
    pod = resource["spec"]["template"]["spec"]
    for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
        name, _, tag = container["image"].partition(":")
        if name != image["name"]:
            continue
        container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}".rstrip(":")


# What the manifests' tests share (tests/deploy): the release their schemas are checked
# against, the example Secrets, and ways into a rendered resource.
KUBERNETES = kubernetes_validate.latest_version()  # the newest release it carries
SECRETS_EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "secrets.example.yaml"


def of_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def pod_spec(resource: Resource) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def app_container(deployment: Resource) -> dict[str, Any]:
    container: dict[str, Any]
    (container,) = pod_spec(deployment)["containers"]
    return container


def example_secrets() -> dict[str, set[str]]:
    docs = [doc for doc in yaml.safe_load_all(SECRETS_EXAMPLE.read_text()) if doc]
    return {doc["metadata"]["name"]: set(doc["stringData"]) for doc in docs}
