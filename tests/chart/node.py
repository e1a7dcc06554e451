"""Installing the chart for real on the test node (tests/cluster/cluster.sh up, "The node" in
docs/testing.md): helpers for the chart tests and the demo. stdlib + the Kube client of test_chart.

    from node import import_images, install, wait_rollout, pods_of
    import_images()                       # tests/image/build.sh images --import (release build once)
    install(kube, render(chart, values, namespace=ns))   # Helm's install order
    wait_rollout(kube, ns, "sealed-secrets-controller")  # replicas updated + available
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Helm 3/4's InstallOrder (pkg/release/util/kind_sorter.go); kinds not listed go last.
HELM_INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
    "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
]


def node_env() -> dict[str, str]:
    """The node's variables exported by `cluster.sh up` (empty if the cluster has no node)."""
    keys = ("SSRS_NODE_NAME", "SSRS_NODE_NETNS", "SSRS_NODE_IP", "SSRS_POD_CIDR", "SSRS_CONTAINERD_SOCK")
    return {k: os.environ[k] for k in keys if os.environ.get(k)}


def import_images() -> list[str]:
    """Builds (release, once) and imports the controller and kubeseal images into the node of
    $SSRS_CLUSTER_DIR; returns their references (the controller's is the chart's default image)."""
    res = subprocess.run(["bash", str(ROOT / "tests/image/build.sh"), "images", "--import"],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"tests/image/build.sh images --import failed:\n{res.stderr[-4000:]}")
    refs = subprocess.run(["bash", str(ROOT / "tests/image/build.sh"), "refs"],
                          capture_output=True, text=True, check=True).stdout.split()
    return refs


def helm_sorted(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rank = {k: i for i, k in enumerate(HELM_INSTALL_ORDER)}
    return sorted(docs, key=lambda d: rank.get(d["kind"], len(rank)))


def install(kube: Any, docs: list[dict[str, Any]]) -> None:
    """Applies rendered manifests in Helm's install order (ServiceAccount and RBAC before the
    Deployment, so the ReplicaSet controller never sees a missing ServiceAccount)."""
    for obj in helm_sorted(docs):
        status, out = kube.apply(obj, dry_run=False)
        if status not in (200, 201):
            raise RuntimeError(f"apply {obj['kind']} {obj['metadata']['name']}: {status} {out}")


def wait_rollout(kube: Any, namespace: str, name: str, timeout: float = 180.0,
                 ready: bool = True) -> dict[str, Any]:
    """Waits until Deployment namespace/name has all replicas updated and available (`ready`), or
    updated with every Pod Running (not `ready`: the probes are not waited for); returns it.
    Raises TimeoutError with the Pods' states otherwise."""
    deadline = time.time() + timeout
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    dep: dict[str, Any] = {}
    while time.time() < deadline:
        _, dep = kube.request("GET", path)
        want = dep.get("spec", {}).get("replicas", 1)
        st = dep.get("status", {})
        if (st.get("observedGeneration", 0) >= dep.get("metadata", {}).get("generation", 1)
                and st.get("updatedReplicas", 0) == want):
            if ready and st.get("availableReplicas", 0) == want:
                return dep
            labels = dep["spec"]["selector"].get("matchLabels", {})
            pods = pods_of(kube, namespace, labels)
            if not ready and len(pods) == want and all(p["status"].get("phase") == "Running" for p in pods):
                return dep
        time.sleep(0.5)
    states = [(p["metadata"]["name"], p["status"].get("phase"), p["status"].get("containerStatuses"))
              for p in pods_of(kube, namespace, dep.get("spec", {}).get("selector", {}).get("matchLabels", {}))]
    raise TimeoutError(f"Deployment {namespace}/{name} not rolled out after {timeout}s: {dep.get('status')} {states}")


def pods_of(kube: Any, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    import urllib.parse
    sel = urllib.parse.quote(",".join(f"{k}={v}" for k, v in labels.items()))
    _, out = kube.request("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={sel}")
    return out.get("items", [])


def main() -> int:
    """CLI for scripts (tests/cluster/node-test.sh, the demo), in tests/chart/venv.sh's virtualenv:

        python tests/chart/node.py install NAMESPACE [--name RELEASE] [--set-json KEY=JSON]...
            [--no-wait-ready]

    renders the chart (Helm v4 engine) with those values into NAMESPACE (created if missing), applies
    it in Helm's order with $KUBECONFIG's credentials, waits for the rollout and prints the Pods (JSON)."""
    import argparse
    import json
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_chart import CHART_DIR, Kube, ensure_crd  # noqa: E402
    from helm_python.chart import Chart  # noqa: E402
    import yaml  # noqa: E402

    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["install"])
    p.add_argument("namespace")
    p.add_argument("--name", default="sealed-secrets")
    p.add_argument("--set-json", action="append", default=[], metavar="KEY=JSON")
    p.add_argument("--no-wait-ready", action="store_true",
                   help="wait only for the Pods to be created and updated, not Ready")
    p.add_argument("--timeout", type=float, default=180.0)
    a = p.parse_args()
    values: dict[str, Any] = {}
    for item in a.set_json:
        key, _, raw = item.partition("=")
        cur = values
        *parents, last = key.split(".")
        for k in parents:
            cur = cur.setdefault(k, {})
        cur[last] = json.loads(raw)
    kube = Kube(os.environ["KUBECONFIG"])
    ensure_crd(kube)
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": a.namespace}}, dry_run=False)
    rendered = Chart.load(CHART_DIR).render(values=values, name=a.name, namespace=a.namespace)
    docs = [d for path, text in sorted(rendered.items()) if not path.endswith("NOTES.txt")
            for d in yaml.safe_load_all(text) if d]
    install(kube, docs)
    dep = next(d for d in docs if d["kind"] == "Deployment")
    ns = dep["metadata"].get("namespace", a.namespace)
    wait_rollout(kube, ns, dep["metadata"]["name"], a.timeout, ready=not a.no_wait_ready)
    labels = dep["spec"]["selector"]["matchLabels"]
    print(json.dumps(pods_of(kube, ns, labels)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
