"""Builds a Kustomize directory (the subset our manifests use) and validates every resource.

    python scripts/validate-k8s.py deploy/k8s/overlays/production [--kubernetes 1.33.0]

There is no kubectl or kustomize here, so this applies what our kustomizations use -- `resources`
(files and directories), `namespace`, `images`, `replicas`, `labels` -- and refuses any other
field rather than skip it. Each resource is then checked against the Kubernetes API schema
(kubernetes-validate, strict: unknown fields fail) and against our own rules: every container has
probes and resource requests, every secret comes from a Secret by reference, pods run as non-root
without privilege escalation, and the internal services (MemoryService on the workers, the agent
service) have a NetworkPolicy. Prints what it checked; exits 1 with the reasons otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "images", "replicas", "labels"}
# Environment variables that hold secrets: never a literal value.
SECRET_HINTS = ("SECRET", "PASSWORD", "DATABASE_URL", "API_KEY", "TOKEN")
# Pods that only our own pods may reach.
INTERNAL = ("worker", "agents")


def build(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise SystemExit(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            resources.extend(build(path))
        else:
            resources.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    for label in kustomization.get("labels", []):
        for resource in resources:
            resource.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
    namespace = kustomization.get("namespace")
    for resource in resources:
        if namespace and resource["kind"] != "Namespace":
            resource["metadata"]["namespace"] = namespace
    for image in kustomization.get("images", []):
        for container in containers(resources):
            name, _, _ = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{name}:{image['newTag']}"
    for replicas in kustomization.get("replicas", []):
        matches = [
            r for r in resources if r["kind"] == "Deployment" and r["metadata"]["name"] == replicas["name"]
        ]
        if not matches:
            raise SystemExit(f"{directory}: replicas for unknown deployment {replicas['name']}")
        for deployment in matches:
            deployment["spec"]["replicas"] = replicas["count"]
    return resources


def containers(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        c for r in resources if r["kind"] == "Deployment" for c in r["spec"]["template"]["spec"]["containers"]
    ]


def our_rules(resources: list[dict[str, Any]]) -> list[str]:
    problems = []
    for r in (r for r in resources if r["kind"] == "Deployment"):
        name = r["metadata"]["name"]
        pod = r["spec"]["template"]["spec"]
        if not pod.get("securityContext", {}).get("runAsNonRoot"):
            problems.append(f"{name}: pods must run as non-root")
        for c in pod["containers"]:
            where = f"{name}/{c['name']}"
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in c:
                    problems.append(f"{where}: no {probe}")
            if not c.get("resources", {}).get("requests"):
                problems.append(f"{where}: no resource requests")
            if c.get("securityContext", {}).get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation not turned off")
            for env in c.get("env", []):
                if any(h in env["name"] for h in SECRET_HINTS) and "value" in env:
                    problems.append(f"{where}: {env['name']} is a literal, not a Secret reference")
    policies = [r for r in resources if r["kind"] == "NetworkPolicy"]
    for internal in INTERNAL:
        covering = [
            p
            for p in policies
            if p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == internal
        ]
        if not covering:
            problems.append(f"{internal}: no NetworkPolicy keeps it internal")
        for p in covering:
            for rule in p["spec"].get("ingress", []):
                if "from" not in rule:
                    problems.append(f"{internal}: {p['metadata']['name']} admits every source")
    if not any(p["spec"]["podSelector"] == {} for p in policies):
        problems.append("no default-deny NetworkPolicy")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--kubernetes", default="1.33.0")
    args = parser.parse_args()
    resources = build(args.directory)
    problems = []
    for resource in resources:
        label = f"{resource['kind']}/{resource['metadata']['name']}"
        try:
            kubernetes_validate.validate(resource, args.kubernetes, strict=True)
        except kubernetes_validate.ValidationError as err:
            problems.append(f"{label}: {err.message} at {'.'.join(map(str, err.path))}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{label}: no schema for {resource['apiVersion']} {resource['kind']}")
    problems.extend(our_rules(resources))
    for problem in problems:
        print(f"invalid: {problem}", file=sys.stderr)
    kinds = sorted({r["kind"] for r in resources})
    print(f"{args.directory}: {len(resources)} resources ({', '.join(kinds)}), Kubernetes {args.kubernetes}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
