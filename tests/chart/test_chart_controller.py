"""The chart's default install, run for real: the controller a Pod on the harness's node.

Against a real kube-apiserver with a node (tests/cluster/cluster.sh up): render the default values
into a scratch namespace (cluster-scoped names made unique), apply them in Helm's order (CRD
included) with the controller image imported into the node (tests/image/build.sh images --import,
done here if needed), and wait until the Deployment's Pod is Ready through the chart's own probes.
Then prove that, with only the chart's RBAC and the ServiceAccount token the kubelet mounts, it
generates a key, holds its Lease under its Pod name (the downward-API POD_NAME), unseals a
SealedSecret (sealed by kubeseal with the key's certificate) in another namespace, records the
Event and writes status; and that the ServiceAccount is refused what it does not need
(SelfSubjectAccessReview with a token of its own, and real requests). Everything created is deleted
afterwards (the namespaces are waited for, so no controller Pod outlives the module), even on failure.

Without KUBECONFIG or a node these tests skip, or fail when SSRS_REQUIRE_CLUSTER=1. kubeseal comes
from `cargo build --workspace --bins` (SSRS_KUBESEAL_BIN overrides the path).
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from node import import_images, install as helm_install, pods_of, wait_rollout
from test_chart import (  # noqa: F401  (chart and kube are fixtures)
    RESOURCES,
    ROOT,
    Kube,
    chart,
    ensure_crd,
    find,
    kube,
    one,
    render,
)

SUFFIX = secrets.token_hex(3)
CTL_NS = f"ssrs-chartctl-{SUFFIX}"       # release namespace
APP_NS = f"ssrs-chartctl-app-{SUFFIX}"   # where the SealedSecret lives
FULLNAME = f"ssrs-chartctl-{SUFFIX}"     # ServiceAccount, Lease, ClusterRoleBinding, ...
CLUSTER_ROLE = f"ssrs-chartctl-{SUFFIX}-unsealer"
# Default values, except the names that are cluster-scoped (unique per run).
VALUES: dict[str, Any] = {"fullnameOverride": FULLNAME, "rbac": {"clusterRoleName": CLUSTER_ROLE}}
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
# Key generation (4096-bit RSA, the default; release build) on a busy 2-core machine.
KEY_TIMEOUT = float(os.environ.get("SSRS_CHART_KEY_TIMEOUT", "240"))
ROLLOUT_TIMEOUT = 240.0
TIMEOUT = 60.0


def binary(env: str, name: str) -> Path:
    path = Path(os.environ.get(env) or ROOT / "target" / "debug" / name)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{name} binary not found at {path}: run `cargo build --workspace --bins` "
                    f"(tests/run.sh does) or set {env}")
    return path


def wait_for(what: str, probe: Callable[[], Any], timeout: float, logs: Callable[[], str]) -> Any:
    """Poll `probe` until it returns something truthy; fail with the controller's logs otherwise."""
    deadline = time.time() + timeout
    last: Any = None
    while time.time() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})\n"
                f"--- controller log ---\n{logs()}")


class Controller:
    """The Deployment's one Pod, as the kubelet runs it."""

    def __init__(self, kube: Kube, deployment: dict[str, Any]) -> None:
        self.kube = kube
        self.labels = deployment["spec"]["selector"]["matchLabels"]
        (pod,) = pods_of(kube, CTL_NS, self.labels)
        self.name: str = pod["metadata"]["name"]

    def pod(self) -> dict[str, Any]:
        status, out = self.kube.request("GET", f"/api/v1/namespaces/{CTL_NS}/pods/{self.name}")
        assert status == 200, out
        return out

    def check_running(self) -> None:
        """Fails when the container is not running or has restarted since the rollout."""
        st = self.pod()["status"]
        (cs,) = st.get("containerStatuses") or [{}]
        if "running" not in (cs.get("state") or {}) or cs.get("restartCount", 0) != 0:
            pytest.fail(f"controller Pod {self.name} not running as started: {cs}\n{self.logs()}")

    def log_text(self) -> str:
        status, out = self.kube.request("GET", f"/api/v1/namespaces/{CTL_NS}/pods/{self.name}/log")
        assert status == 200, out
        return out.get("body", "")

    def logs(self) -> str:
        try:
            text = self.log_text()
        except AssertionError as e:
            text = f"(no log: {e})"
        return f"--- Pod {CTL_NS}/{self.name} ---\n{text[-20000:]}"


def sa_kubeconfig(admin_kubeconfig: str, token: str, path: Path, namespace: str = CTL_NS) -> None:
    """The admin kubeconfig's cluster (server + CA, as given) with the ServiceAccount's token."""
    cfg = yaml.safe_load(Path(admin_kubeconfig).read_text())
    ctx_name = cfg.get("current-context") or cfg["contexts"][0]["name"]
    ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
    cluster = {k: v for k, v in cluster.items()
               if k in ("server", "certificate-authority", "certificate-authority-data", "tls-server-name")}
    if "certificate-authority" in cluster:  # relative paths are relative to the kubeconfig's directory
        cluster["certificate-authority"] = str(
            (Path(admin_kubeconfig).parent / cluster["certificate-authority"]).resolve())
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa", "namespace": namespace}}],
    }))
    path.chmod(0o600)


def delete_and_wait(kube: Kube, path: str, timeout: float = 60) -> None:
    kube.request("DELETE", path)
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, _ = kube.request("GET", path)
        if status == 404:
            return
        time.sleep(0.5)


@pytest.fixture(scope="module")
def install(chart, kube: Kube, request: pytest.FixtureRequest):  # noqa: F811
    """Default render applied for real into CTL_NS, plus APP_NS; all removed afterwards."""
    namespaces: list[str] = []      # API paths, deleted last (and waited for)
    cluster_scoped: list[str] = []  # API paths of ClusterRole/ClusterRoleBinding
    if not os.environ.get("SSRS_NODE_NAME"):
        if os.environ.get("SSRS_REQUIRE_CLUSTER") == "1":
            pytest.fail("SSRS_REQUIRE_CLUSTER=1 but the cluster has no node (SSRS_NODE_NAME)")
        pytest.skip("the cluster has no node (SSRS_NODE_NAME): tests/cluster/cluster.sh up starts one")
    import_images()  # the chart's default image reference, in the node's containerd
    try:
        ensure_crd(kube)
        docs = render(chart, VALUES, namespace=CTL_NS)
        for ns in (CTL_NS, APP_NS):
            obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            status, out = kube.apply(obj, dry_run=False)
            assert status in (200, 201), out
            namespaces.append(kube.path_of(obj))
        for obj in docs:
            status, out = kube.apply(obj, dry_run=True)
            assert status in (200, 201), ("dry-run", obj["kind"], obj["metadata"]["name"], out)
        cluster_scoped += [kube.path_of(o) for o in docs if not RESOURCES[o["kind"]][2]]
        helm_install(kube, docs)  # Helm's order: ServiceAccount and RBAC before the Deployment
        # Only the default objects were installed, cluster-scoped ones under this run's names.
        names = sorted((d["kind"], d["metadata"]["name"]) for d in docs if not RESOURCES[d["kind"]][2])
        assert names == [("ClusterRole", CLUSTER_ROLE), ("ClusterRoleBinding", FULLNAME)]
        yield docs
    finally:
        for path in reversed(cluster_scoped):
            kube.request("DELETE", path)
        for path in namespaces:
            delete_and_wait(kube, path)


@pytest.fixture(scope="module")
def sa_kube(kube: Kube, install, tmp_path_factory: pytest.TempPathFactory) -> tuple[Kube, Path]:
    """A client and a kubeconfig holding a TokenRequest token of the chart's ServiceAccount."""
    one(install, "ServiceAccount", FULLNAME, CTL_NS)
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"expirationSeconds": 3600}}
    status, out = kube.request(
        "POST", f"/api/v1/namespaces/{CTL_NS}/serviceaccounts/{FULLNAME}/token", review)
    assert status == 201, out
    token = out["status"]["token"]
    path = tmp_path_factory.mktemp("sa") / "kubeconfig"
    sa_kubeconfig(os.environ["KUBECONFIG"].split(os.pathsep)[0], token, path)
    client = Kube(str(path))
    status, out = client.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    # SelfSubjectReview is 1.26+; on older servers check identity through an access review instead.
    if status == 201:
        assert out["status"]["userInfo"]["username"] == f"system:serviceaccount:{CTL_NS}:{FULLNAME}"
    return client, path


@pytest.fixture(scope="module")
def controller(kube: Kube, install, request: pytest.FixtureRequest):
    """The rendered Deployment rolled out: its Pod Ready through the chart's readinessProbe."""
    dep = one(install, "Deployment", FULLNAME, CTL_NS)
    failed_before = request.session.testsfailed
    try:
        wait_rollout(kube, CTL_NS, FULLNAME, timeout=ROLLOUT_TIMEOUT, ready=True)
    except TimeoutError as e:
        pods = pods_of(kube, CTL_NS, dep["spec"]["selector"]["matchLabels"])
        logs = [kube.request("GET", f"/api/v1/namespaces/{CTL_NS}/pods/{p['metadata']['name']}/log")[1]
                for p in pods]
        pytest.fail(f"{e}\n{logs}")
    ctl = Controller(kube, dep)
    yield ctl
    if request.session.testsfailed > failed_before:
        # Uncaptured, so that it is visible whatever the capture mode.
        sys.__stderr__.write(f"\n{ctl.logs()}\n")
        sys.__stderr__.flush()


def key_secrets(kube: Kube) -> list[dict[str, Any]]:
    sel = urllib.parse.quote(f"{KEY_LABEL}=active")
    status, out = kube.request("GET", f"/api/v1/namespaces/{CTL_NS}/secrets?labelSelector={sel}")
    assert status == 200, out
    return out["items"]


@pytest.fixture(scope="module")
def active_key(kube: Kube, controller: Controller) -> dict[str, Any]:
    def probe() -> list[dict[str, Any]]:
        controller.check_running()
        return key_secrets(kube)

    keys = wait_for(f"an active key Secret in {CTL_NS}", probe, KEY_TIMEOUT, controller.logs)
    assert len(keys) == 1, [k["metadata"]["name"] for k in keys]
    return keys[0]


# --------------------------------------------------------------------------------------------------


def test_controller_runs_as_the_deployment_says(install, controller: Controller) -> None:
    """The Pod the kubelet runs: the chart's ServiceAccount and arguments, Ready through /readyz."""
    dep = one(install, "Deployment", FULLNAME, CTL_NS)
    (want,) = dep["spec"]["template"]["spec"]["containers"]
    pod = controller.pod()
    assert pod["spec"]["serviceAccountName"] == FULLNAME
    (c,) = pod["spec"]["containers"]
    assert c["image"] == want["image"]
    assert c.get("args") == want.get("args")
    assert "--leader-elect" in c["args"]
    assert c["args"][c["args"].index("--leader-election-name") + 1] == FULLNAME
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    conds = {x["type"]: x["status"] for x in pod["status"]["conditions"]}
    assert conds.get("Ready") == "True", pod["status"]
    controller.check_running()


def test_controller_generates_key_in_release_namespace(kube: Kube, active_key: dict[str, Any],
                                                       controller: Controller) -> None:
    md = active_key["metadata"]
    assert md["namespace"] == CTL_NS
    assert md["name"].startswith("sealed-secrets-key")  # --key-prefix from the chart's secretName
    assert active_key["type"] == "kubernetes.io/tls"
    assert base64.b64decode(active_key["data"]["tls.crt"]).startswith(b"-----BEGIN CERTIFICATE-----")
    assert base64.b64decode(active_key["data"]["tls.key"])
    # And nowhere else: the release namespace only.
    sel = urllib.parse.quote(KEY_LABEL)
    status, out = kube.request("GET", f"/api/v1/secrets?labelSelector={sel}")
    assert status == 200, out
    ours = [s for s in out["items"] if s["metadata"]["namespace"] in (CTL_NS, APP_NS)]
    assert [s["metadata"]["name"] for s in ours] == [md["name"]]


def test_controller_holds_its_lease(kube: Kube, active_key: dict[str, Any],
                                    controller: Controller) -> None:
    path = f"/apis/coordination.k8s.io/v1/namespaces/{CTL_NS}/leases/{FULLNAME}"

    def probe() -> dict[str, Any] | None:
        status, out = kube.request("GET", path)
        if status == 200 and out["spec"].get("holderIdentity") == controller.name:
            return out
        return None

    # The holder is the Pod's name: POD_NAME from the downward API reached the controller.
    lease = wait_for(f"Lease {CTL_NS}/{FULLNAME} held by {controller.name}", probe, TIMEOUT,
                     controller.logs)
    assert lease["spec"]["leaseDurationSeconds"] > 0
    assert lease["spec"].get("renewTime")
    renewed = lease["spec"]["renewTime"]
    # Renewed while held.
    wait_for("Lease renewal",
             lambda: kube.request("GET", path)[1]["spec"].get("renewTime") != renewed,
             TIMEOUT, controller.logs)


def test_controller_unseals_with_the_chart_rbac(kube: Kube, active_key: dict[str, Any],
                                               controller: Controller,
                                               tmp_path: Path) -> None:
    kubeseal = binary("SSRS_KUBESEAL_BIN", "kubeseal")
    cert = tmp_path / "cert.pem"
    cert.write_bytes(base64.b64decode(active_key["data"]["tls.crt"]))
    plain = {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "app-credentials", "namespace": APP_NS, "labels": {"app": "demo"}},
             "type": "Opaque",
             "stringData": {"username": "admin", "password": "s3cr3t-" + SUFFIX}}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEALED_SECRETS_")}
    env.pop("KUBECONFIG", None)  # offline: --cert only
    res = subprocess.run([str(kubeseal), "--cert", str(cert), "-o", "yaml"],
                         input=yaml.safe_dump(plain).encode(), capture_output=True, env=env,
                         timeout=60)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    sealed = yaml.safe_load(res.stdout)
    assert sealed["kind"] == "SealedSecret"
    assert sealed["metadata"]["namespace"] == APP_NS
    assert b"s3cr3t" not in res.stdout
    # Created with the admin's credentials: the ServiceAccount cannot create SealedSecrets.
    ss_path = f"/apis/bitnami.com/v1alpha1/namespaces/{APP_NS}/sealedsecrets"
    status, out = kube.request("POST", ss_path, sealed)
    assert status == 201, out
    assert out["metadata"]["generation"] == 1
    uid = out["metadata"]["uid"]

    def secret() -> dict[str, Any] | None:
        status, out = kube.request("GET", f"/api/v1/namespaces/{APP_NS}/secrets/app-credentials")
        return out if status == 200 else None

    s = wait_for(f"Secret {APP_NS}/app-credentials", secret, TIMEOUT, controller.logs)
    assert {k: base64.b64decode(v).decode() for k, v in s["data"].items()} == {
        "username": "admin", "password": "s3cr3t-" + SUFFIX}
    assert s["type"] == "Opaque"
    assert s["metadata"]["labels"].get("app") == "demo"
    owners = s["metadata"].get("ownerReferences") or []
    assert [(o["kind"], o["name"], o["uid"], o.get("controller")) for o in owners] == [
        ("SealedSecret", "app-credentials", uid, True)]

    def synced() -> dict[str, Any] | None:
        _, out = kube.request("GET", f"{ss_path}/app-credentials")
        st = out.get("status") or {}
        conds = {c["type"]: c for c in st.get("conditions") or []}
        if conds.get("Synced", {}).get("status") == "True" and st.get("observedGeneration") == 1:
            return out
        return None

    ss = wait_for("status Synced=True, observedGeneration 1", synced, TIMEOUT, controller.logs)
    assert ss["metadata"]["generation"] == 1  # status only: the spec was not touched

    def unsealed_event() -> list[dict[str, Any]]:
        found = []
        sel = urllib.parse.quote(f"involvedObject.uid={uid}")
        status, out = kube.request("GET", f"/api/v1/namespaces/{APP_NS}/events?fieldSelector={sel}")
        if status == 200:
            found += [e for e in out["items"] if e.get("reason") == "Unsealed"]
        return found

    events = wait_for("Event reason=Unsealed", unsealed_event, TIMEOUT, controller.logs)
    ev = events[0]
    assert ev["involvedObject"]["kind"] == "SealedSecret"
    assert ev["involvedObject"]["name"] == "app-credentials"
    assert ev["type"] == "Normal"
    controller.check_running()
    # Nothing in the controller's output leaks the plaintext.
    assert "s3cr3t" not in controller.log_text()


def test_service_account_is_refused_what_it_does_not_need(kube: Kube, sa_kube,
                                                          active_key: dict[str, Any]) -> None:
    """The SA's own token, evaluated by the real authorizer (SelfSubjectAccessReview), and real
    requests where a refusal is harmless."""
    client, _ = sa_kube

    def can(verb: str, resource: str, *, group: str = "", namespace: str = "", name: str = "",
            subresource: str = "") -> bool:
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": {
                      "verb": verb, "group": group, "resource": resource, "namespace": namespace,
                      "name": name, "subresource": subresource}}}
        status, out = client.request(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
        assert status == 201, out
        return bool(out["status"].get("allowed"))

    # What it needs.
    for verb in ("get", "list", "watch"):
        assert can(verb, "sealedsecrets", group="bitnami.com")
        assert can(verb, "secrets", namespace=CTL_NS)
    assert can("update", "sealedsecrets", group="bitnami.com", namespace=APP_NS, subresource="status")
    for verb in ("create", "update"):
        assert can(verb, "secrets", namespace=APP_NS)
    assert can("create", "events", group="events.k8s.io", namespace=APP_NS)
    assert can("create", "leases", group="coordination.k8s.io", namespace=CTL_NS)
    assert can("update", "leases", group="coordination.k8s.io", namespace=CTL_NS, name=FULLNAME)

    # SealedSecrets are the users' input: status only, never the spec, never create/delete.
    for verb in ("create", "update", "patch", "delete"):
        assert not can(verb, "sealedsecrets", group="bitnami.com", namespace=APP_NS), verb
    # No delete of Secrets (only --old-gc-behavior needs it, and the default render does not set it).
    assert not can("delete", "secrets", namespace=APP_NS)
    assert not can("delete", "secrets", namespace=CTL_NS)
    assert not can("deletecollection", "secrets", namespace=CTL_NS)
    # Leases: only its own, only in the release namespace.
    assert not can("create", "leases", group="coordination.k8s.io", namespace=APP_NS)
    assert not can("list", "leases", group="coordination.k8s.io", namespace=CTL_NS)
    assert not can("update", "leases", group="coordination.k8s.io", namespace=CTL_NS, name="other")
    assert not can("delete", "leases", group="coordination.k8s.io", namespace=CTL_NS, name=FULLNAME)
    assert not can("get", "leases", group="coordination.k8s.io", namespace="kube-system",
                   name=FULLNAME)
    # Nothing else.
    assert not can("list", "pods", namespace=CTL_NS)
    assert not can("get", "configmaps", namespace=CTL_NS)
    assert not can("get", "namespaces", name=APP_NS)
    assert not can("list", "namespaces")
    assert not can("create", "serviceaccounts", subresource="token", namespace=CTL_NS, name=FULLNAME)
    assert not can("update", "deployments", group="apps", namespace=CTL_NS, name=FULLNAME)
    assert not can("escalate", "clusterroles", group="rbac.authorization.k8s.io")
    assert not can("create", "rolebindings", group="rbac.authorization.k8s.io", namespace=CTL_NS)

    # Real requests with the token agree with the reviews.
    status, out = client.request("GET", f"/api/v1/namespaces/{CTL_NS}/pods")
    assert status == 403, out
    status, out = client.request("GET", f"/api/v1/namespaces/{APP_NS}/configmaps")
    assert status == 403, out
    key_name = active_key["metadata"]["name"]
    status, out = client.request("DELETE", f"/api/v1/namespaces/{CTL_NS}/secrets/{key_name}")
    assert status == 403, out
    status, out = client.request("GET", f"/api/v1/namespaces/{CTL_NS}/secrets/{key_name}")
    assert status == 200, out
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "not-mine", "namespace": APP_NS}, "spec": {}}
    status, out = client.request(
        "POST", f"/apis/coordination.k8s.io/v1/namespaces/{APP_NS}/leases?dryRun=All", lease)
    assert status == 403, out
    # Still there (the DELETE above really was refused).
    assert [k["metadata"]["name"] for k in key_secrets(kube)] == [key_name]


def test_old_gc_behavior_render_grants_secret_delete(chart, kube: Kube, install) -> None:  # noqa: F811
    """The other render: with --old-gc-behavior the ClusterRole also grants Secret delete (the
    controller then deletes a Secret when its SealedSecret goes). Evaluated by the real authorizer for
    a second ServiceAccount name, next to the default install's, which still cannot delete."""
    name = f"{FULLNAME}-oldgc"
    values = {"fullnameOverride": name, "rbac": {"clusterRoleName": f"{CLUSTER_ROLE}-oldgc"},
              "commandArgs": ["--old-gc-behavior"]}
    docs = render(chart, values, namespace=CTL_NS)
    assert "--old-gc-behavior" in one(docs, "Deployment", name)["spec"]["template"]["spec"][
        "containers"][0]["args"]
    objs = [one(docs, "ClusterRole", f"{CLUSTER_ROLE}-oldgc"), one(docs, "ClusterRoleBinding", name),
            one(docs, "ServiceAccount", name, CTL_NS)]
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{CTL_NS}", "system:authenticated"]
    try:
        for obj in objs:
            status, out = kube.apply(obj, dry_run=False)
            assert status in (200, 201), (obj["kind"], out)
        old_gc = f"system:serviceaccount:{CTL_NS}:{name}"
        default = f"system:serviceaccount:{CTL_NS}:{FULLNAME}"
        deadline = time.time() + 10  # the RBAC authorizer's informer catches up asynchronously
        while not kube.can(old_gc, groups, "delete", "secrets", namespace=APP_NS) and time.time() < deadline:
            time.sleep(0.5)
        assert kube.can(old_gc, groups, "delete", "secrets", namespace=APP_NS)
        assert kube.can(old_gc, groups, "create", "secrets", namespace=APP_NS)
        assert not kube.can(default, groups, "delete", "secrets", namespace=APP_NS)
        assert kube.can(default, groups, "create", "secrets", namespace=APP_NS)
        for user in (old_gc, default):
            assert not kube.can(user, groups, "delete", "sealedsecrets", group="bitnami.com",
                                namespace=APP_NS)
    finally:
        for obj in objs[:2]:
            kube.request("DELETE", kube.path_of(obj))
