"""The chart installed for real on the harness's node (issue 13, item 4): release `sealed-secrets` in
`kube-system` with default values, the controller a real Pod from the imported image, Ready through
its own readinessProbe, reached by kubeseal through the real Service; then a values change rolled
out, two replicas with a leader failover and the PodDisruptionBudget, and the securityContext as the
runtime enforces it.

Needs the node and the images (`tests/image/build.sh images --import`): tests/run.sh runs this file
after the import with SSRS_CHART_NODE=1, which makes a missing node a failure instead of a skip.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

import pytest

from node import install, pods_of, wait_rollout
from test_chart import RESOURCES, ROOT, Kube, ensure_crd, render

NS = "kube-system"
RELEASE = "sealed-secrets"
NAME = "sealed-secrets"  # upstream's naming for this release
APP_NS = f"chart-node-{int(time.time())}-{os.getpid()}"
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
# Helm detects the server version; the render here is told it (PodDisruptionBudget policy/v1beta1).
K8S = {"kubeVersion": "1.20.2"}

RESOURCES.setdefault("PodDisruptionBudget", ("/apis/policy/v1beta1", "poddisruptionbudgets", True))


@pytest.fixture(scope="module")
def kube() -> Kube:
    if not os.environ.get("SSRS_NODE_NAME") or not os.environ.get("KUBECONFIG"):
        if os.environ.get("SSRS_CHART_NODE") == "1":
            pytest.fail("SSRS_CHART_NODE=1 but no node: eval \"$(tests/cluster/cluster.sh up)\" first")
        pytest.skip("no node (SSRS_NODE_NAME) or no KUBECONFIG")
    if os.environ.get("SSRS_CHART_NODE") != "1":
        pytest.skip("set SSRS_CHART_NODE=1 once the images are imported (tests/run.sh does)")
    k = Kube(os.environ["KUBECONFIG"].split(os.pathsep)[0])
    ensure_crd(k)
    k.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APP_NS}}, dry_run=False)
    return k


def wait_for(what: str, probe: Callable[[], Any], timeout: float, detail: Callable[[], str] = lambda: "") -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n{detail()}")


def kubeseal(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    return subprocess.run([str(target / "debug" / "kubeseal"), *args,
                           "--kubeconfig", os.environ["KUBECONFIG"].split(os.pathsep)[0]],
                          input=stdin, capture_output=True, timeout=60)


def pod_logs(kube: Kube) -> str:
    out = []
    for p in pods_of(kube, NS, {"app.kubernetes.io/name": "sealed-secrets", "app.kubernetes.io/instance": RELEASE}):
        name = p["metadata"]["name"]
        status, body = kube.request("GET", f"/api/v1/namespaces/{NS}/pods/{name}/log?tailLines=40")
        out.append(f"--- {name} {p['status'].get('phase')}: {body.get('body') or body.get('message') or body}")
    return "\n".join(out)


def installed(kube: Kube, values: dict[str, Any]) -> dict[str, Any]:
    """Install (or upgrade in place) the release with `values` and wait until every replica is
    updated and available: Ready through the chart's own readinessProbe on /readyz."""
    install(kube, render_chart(values))
    try:
        return wait_rollout(kube, NS, NAME, timeout=240, ready=True)
    except TimeoutError as e:
        pytest.fail(f"{e}\n{pod_logs(kube)}")


def render_chart(values: dict[str, Any]) -> list[dict[str, Any]]:
    from helm_python.chart import Chart
    from test_chart import CHART_DIR
    return render(Chart.load(CHART_DIR), values, name=RELEASE, namespace=NS)


def seal_and_apply(kube: Kube, name: str, value: str) -> None:
    secret = (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {APP_NS}\n"
              f"stringData:\n  password: {value}\n")
    out = kubeseal("-o", "json", stdin=secret.encode())
    assert out.returncode == 0, out.stderr.decode()
    ss = json.loads(out.stdout)
    status, body = kube.request("POST", f"/apis/bitnami.com/v1alpha1/namespaces/{APP_NS}/sealedsecrets", ss)
    assert status == 201, body


def wait_unsealed(kube: Kube, name: str, value: str, timeout: float) -> None:
    def secret() -> bool:
        status, s = kube.request("GET", f"/api/v1/namespaces/{APP_NS}/secrets/{name}")
        return status == 200 and base64.b64decode(s.get("data", {}).get("password", "")) == value.encode()
    wait_for(f"Secret {APP_NS}/{name} unsealed", secret, timeout, lambda: pod_logs(kube))

    def synced() -> bool:
        _, ss = kube.request("GET", f"/apis/bitnami.com/v1alpha1/namespaces/{APP_NS}/sealedsecrets/{name}")
        st = ss.get("status", {})
        return st.get("observedGeneration") == ss["metadata"].get("generation") and any(
            c["type"] == "Synced" and c["status"] == "True" for c in st.get("conditions", []))
    wait_for(f"SealedSecret {APP_NS}/{name} status Synced", synced, 30, lambda: pod_logs(kube))


def key_secrets(kube: Kube) -> list[str]:
    sel = urllib.parse.quote(f"{KEY_LABEL}=active")
    _, out = kube.request("GET", f"/api/v1/namespaces/{NS}/secrets?labelSelector={sel}")
    return sorted(s["metadata"]["name"] for s in out.get("items", []))


def test_default_install_is_ready_and_unseals_through_the_real_service(kube: Kube) -> None:
    # A fresh install: nothing left of an earlier run (a Deployment of another shape).
    path = f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}"
    kube.request("DELETE", path)
    wait_for(f"no Deployment {NS}/{NAME}", lambda: kube.request("GET", path)[0] == 404, 90)
    installed(kube, {})
    # kubeseal with no controller flags: kube-system, and the chart's Service found by its labels.
    out = kubeseal("--fetch-cert")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.startswith(b"-----BEGIN CERTIFICATE-----")
    assert f'"{NAME}"' in out.stderr.decode(), out.stderr.decode()
    seal_and_apply(kube, "first", "s3cr3t-one")
    wait_unsealed(kube, "first", "s3cr3t-one", 60)

    def unsealed_event() -> dict[str, Any] | None:
        sel = urllib.parse.quote("involvedObject.name=first,reason=Unsealed")
        _, evs = kube.request("GET", f"/api/v1/namespaces/{APP_NS}/events?fieldSelector={sel}")
        return next(iter(evs.get("items", [])), None)
    ev = wait_for("the Unsealed Event", unsealed_event, 30)
    assert ev["source"]["component"] == "sealed-secrets", ev
    assert ev["reportingInstance"].startswith(f"{NAME}-"), "the Pod's name (downward API)"


def test_values_change_rolls_out_keeping_keys_and_objects(kube: Kube) -> None:
    keys = key_secrets(kube)
    assert keys, "the first install made a key"
    _, before = kube.request("GET", f"/apis/bitnami.com/v1alpha1/namespaces/{APP_NS}/sealedsecrets/first")
    installed(kube, {"podLabels": {"rollout": "second"}})
    pods = pods_of(kube, NS, {"rollout": "second"})
    assert pods, "the new ReplicaSet's Pods carry the new label"
    assert key_secrets(kube) == keys, "no key lost or added by a rollout"
    seal_and_apply(kube, "second", "s3cr3t-two")
    wait_unsealed(kube, "second", "s3cr3t-two", 60)
    _, after = kube.request("GET", f"/apis/bitnami.com/v1alpha1/namespaces/{APP_NS}/sealedsecrets/first")
    assert after["status"]["secretResourceVersion"] == before["status"]["secretResourceVersion"], \
        "the new Pod found the object in sync: its Secret was not written again"


def evict(kube: Kube, pod: str) -> tuple[int, dict[str, Any]]:
    body = {"apiVersion": "policy/v1beta1", "kind": "Eviction", "metadata": {"name": pod, "namespace": NS}}
    return kube.request("POST", f"/api/v1/namespaces/{NS}/pods/{pod}/eviction", body)


def test_two_replicas_fail_over_within_30s_and_the_pdb_holds(kube: Kube) -> None:
    installed(kube, {**K8S, "replicas": 2, "pdb": {"create": True}})
    labels = {"app.kubernetes.io/name": "sealed-secrets", "app.kubernetes.io/instance": RELEASE}

    def two_pods() -> list[str] | None:
        # The previous ReplicaSet's Pod is scaled away after the new ones are available.
        names = [p["metadata"]["name"] for p in pods_of(kube, NS, labels)
                 if not p["metadata"].get("deletionTimestamp")]
        return names if len(names) == 2 else None
    pods = wait_for("exactly the two replicas of this rollout", two_pods, 90, lambda: pod_logs(kube))

    def pdb_allows_one() -> bool:
        _, pdb = kube.request("GET", f"/apis/policy/v1beta1/namespaces/{NS}/poddisruptionbudgets/{NAME}")
        return pdb.get("status", {}).get("disruptionsAllowed") == 1
    wait_for("the PDB to allow one disruption", pdb_allows_one, 60)

    def holder() -> str | None:
        _, lease = kube.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{NAME}")
        h = lease.get("spec", {}).get("holderIdentity")
        return h if h in pods else None
    leader = wait_for("a replica of this rollout to hold the Lease", holder, 60, lambda: pod_logs(kube))
    follower = next(p for p in pods if p != leader)
    # Evict the leader (the PDB allows one), then the follower: refused while one is missing.
    status, out = evict(kube, leader)
    assert status == 201, out
    status, out = evict(kube, follower)
    assert status == 429, f"the PDB must refuse a second disruption: {status} {out}"
    t0 = time.time()
    seal_and_apply(kube, "after-failover", "s3cr3t-three")
    wait_unsealed(kube, "after-failover", "s3cr3t-three", 30)
    assert time.time() - t0 <= 30


def test_back_to_one_replica_as_helm_upgrades(kube: Kube) -> None:
    """`helm upgrade --set replicas=1` after two: Helm patches the Deployment with its manifest
    (strategic merge), whose `rollingUpdate: null` drops the RollingUpdate defaults; without it the
    API refused `strategy: Recreate` (422)."""
    dep = next(d for d in render_chart({}) if d["kind"] == "Deployment")
    status, out = kube.request("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}", dep,
                               content_type="application/strategic-merge-patch+json")
    assert status == 200, out
    assert out["spec"]["strategy"] == {"type": "Recreate"}, out["spec"]["strategy"]
    try:
        wait_rollout(kube, NS, NAME, timeout=240, ready=True)
    except TimeoutError as e:
        pytest.fail(f"{e}\n{pod_logs(kube)}")
    seal_and_apply(kube, "one-again", "s3cr3t-four")
    wait_unsealed(kube, "one-again", "s3cr3t-four", 60)


def test_the_security_context_is_enforced(kube: Kube) -> None:
    labels = {"app.kubernetes.io/name": "sealed-secrets", "app.kubernetes.io/instance": RELEASE}
    pod = next(p for p in pods_of(kube, NS, labels)
               if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp"))
    cid = pod["status"]["containerStatuses"][0]["containerID"].split("//", 1)[1]
    cg = "ssrs-" + os.environ["SSRS_NODE_NETNS"].removeprefix("ssrsn-")
    procs = next(Path(f"/sys/fs/cgroup/memory/{cg}/kubepods").rglob(f"{cid}/cgroup.procs"))
    pid = procs.read_text().split()[0]
    status = Path(f"/proc/{pid}/status").read_text()
    uid = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uid == ["1001"] * 4, f"runs as uid {uid}"
    # A write to the container's root filesystem, through the process's own root: read-only.
    with pytest.raises(OSError) as e:
        with open(f"/proc/{pid}/root/ssrs-write-probe", "w") as f:
            f.write("x")
    assert e.value.errno == errno.EROFS, e.value
    # /tmp is the chart's writable emptyDir.
    probe = Path(f"/proc/{pid}/root/tmp/ssrs-write-probe")
    probe.write_text("x")
    probe.unlink()


def test_uninstall(kube: Kube) -> None:
    """Leaves kube-system as it was (keys stay: they are never part of a release)."""
    status, _ = kube.request("DELETE", f"/apis/policy/v1beta1/namespaces/{NS}/poddisruptionbudgets/{NAME}")
    assert status in (200, 404)
    for obj in reversed(render_chart({})):
        if obj["kind"] == "CustomResourceDefinition":
            continue
        status, out = kube.request("DELETE", kube.path_of(obj))
        assert status in (200, 202, 404), out
    kube.request("DELETE", f"/api/v1/namespaces/{APP_NS}")
