"""The static install manifests charts/sealed-secrets/static/controller.yaml and charts/sealed-secrets/static/controller-norbac.yaml (issue 14,
item 8), the equivalents of upstream's release assets.

Offline: the committed files are exactly what charts/sealed-secrets/static/generate.py produces from the chart now (a
chart change without regenerating fails here), and they have upstream's names and shape.

Against the harness's cluster with its node (tests/cluster/cluster.sh: KUBECONFIG inside
SSRS_CLUSTER_DIR, because the objects go to kube-system under upstream's cluster-wide names;
SSRS_NODE_NAME/NETNS/IP): every object of controller.yaml applied for real, then the controller run
with exactly what the manifest gives it: the Deployment's args and env, a TokenRequest token of the
manifest's ServiceAccount (so only the manifest's RBAC). The Deployment is applied with
spec.replicas 0, the one change: the test runs the controller binary itself (the image is imported
only later in tests/run.sh), and a Pod of the image would compete with it for the Lease and the
keys. A placeholder Pod with the template's labels and ports runs on the node with hostNetwork (the
harness's pause image, so it is Running and Ready with the node's IP), and the controller runs in the
node's network namespace listening on :8080/:8081 as the Deployment says: the manifest's own Services
and the endpoints controller route to it. Then: it generates a key, kubeseal with its default flags
(`--controller-name sealed-secrets-controller --controller-namespace kube-system`) fetches that
key's certificate and validates through the Service, a SealedSecret is unsealed, status and a core/v1
Event are written, the metrics Service serves every metric the chart's dashboard queries.
controller-norbac.yaml is applied for real into a scratch namespace.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from test_chart import (  # noqa: F401  (kube is a fixture)
    CHART_DIR,
    RESOURCES,
    ROOT,
    Kube,
    dashboard_metric_names,
    ensure_crd,
    find,
    kube,
    one,
)
from test_chart_controller import binary, sa_kubeconfig


class Controller:
    """The controller binary as a host process in the node's netns (the manifest's Deployment is at
    0 replicas; a placeholder Pod carries the labels its Services select)."""

    def __init__(self, proc: subprocess.Popen, log: Path, argv: list[str]) -> None:
        self.proc, self.log, self.argv = proc, log, argv

    def logs(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        state = "running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
        return f"$ {' '.join(self.argv)}\n({state})\n{text[-20000:]}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)

DEPLOY = ROOT / "charts" / "sealed-secrets" / "static"
NAME = "sealed-secrets-controller"
NS = "kube-system"
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
SUFFIX = secrets.token_hex(3)
APP_NS = f"ssrs-static-app-{SUFFIX}"
POD_NAME = f"{NAME}-host-{SUFFIX}"  # the placeholder Pod, and the controller's POD_NAME
PAUSE_IMAGE = "localhost/ssrs-pause:1"  # imported into the node by cluster.sh up
KEY_TIMEOUT = float(os.environ.get("SSRS_CHART_KEY_TIMEOUT", "240"))
TIMEOUT = 60.0

RESOURCES.setdefault("ConfigMap", ("/api/v1", "configmaps", True))


def load_generator():
    spec = importlib.util.spec_from_file_location("ssrs_deploy_generate", DEPLOY / "generate.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def manifest_docs(file: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / file).read_text()) if d]


# --------------------------------------------------------------------------------------------------
# Offline


def test_committed_manifests_are_what_the_generator_produces() -> None:
    gen = load_generator()
    assert sorted(gen.MANIFESTS) == ["controller-norbac.yaml", "controller.yaml"]
    for file in gen.MANIFESTS:
        committed = (DEPLOY / file).read_text()
        assert committed == gen.manifest(file), (
            f"charts/sealed-secrets/static/{file} is out of date: run "
            '"$(bash tests/chart/venv.sh)/bin/python" charts/sealed-secrets/static/generate.py')


def test_generator_detects_drift(tmp_path: Path) -> None:
    """--check really compares: a changed file is reported, exit 1; an identical one passes."""
    gen = load_generator()
    for file in gen.MANIFESTS:
        (tmp_path / file).write_text(gen.manifest(file))
    python = sys.executable
    script = str(DEPLOY / "generate.py")
    ok = subprocess.run([python, script, "--check", "--out", str(tmp_path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "controller.yaml").write_text(gen.manifest("controller.yaml").replace("8080", "8090"))
    bad = subprocess.run([python, script, "--check", "--out", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "controller.yaml" in bad.stderr and "controller-norbac.yaml" not in bad.stderr


def test_controller_yaml_has_upstreams_names() -> None:
    docs = manifest_docs("controller.yaml")
    names = sorted((d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs)
    assert names == sorted([
        ("CustomResourceDefinition", "sealedsecrets.bitnami.com", None),
        ("ServiceAccount", NAME, NS),
        ("ClusterRole", "secrets-unsealer", None),
        ("ClusterRoleBinding", NAME, None),
        ("Role", "sealed-secrets-key-admin", NS),
        ("RoleBinding", NAME, NS),
        ("Role", "sealed-secrets-service-proxier", NS),
        ("RoleBinding", "sealed-secrets-service-proxier", NS),
        ("Service", NAME, NS),
        ("Service", f"{NAME}-metrics", NS),
        ("Deployment", NAME, NS),
        # Ours only: leader election (on by default, as in the chart).
        ("Role", f"{NAME}-leader-election", NS),
        ("RoleBinding", f"{NAME}-leader-election", NS),
    ])
    # The CRD is the chart's, first of what kubectl must create before any SealedSecret.
    crd = one(docs, "CustomResourceDefinition")
    assert crd == yaml.safe_load((CHART_DIR / "crds" / "bitnami.com_sealedsecrets.yaml").read_text())
    kinds = [d["kind"] for d in docs]
    assert kinds.index("CustomResourceDefinition") < kinds.index("Deployment")
    assert kinds.index("ServiceAccount") < kinds.index("Deployment")
    dep = one(docs, "Deployment", NAME)
    # Upstream's immutable selector, so `kubectl apply` over upstream's controller.yaml works.
    assert dep["spec"]["selector"] == {"matchLabels": {"name": NAME}}
    pod = dep["spec"]["template"]
    assert pod["metadata"]["labels"]["name"] == NAME
    assert pod["spec"]["serviceAccountName"] == NAME
    (c,) = pod["spec"]["containers"]
    assert c["name"] == NAME  # upstream's container name (kubectl set image, apply merges by name)
    for svc in find(docs, "Service"):
        assert svc["spec"]["selector"] == {"name": NAME}
    svc = one(docs, "Service", NAME)
    assert svc["spec"]["ports"][0]["port"] == 8080
    assert svc["spec"]["ports"][0]["name"] == "http"  # upstream's is unnamed; kubeseal reads the name
    assert one(docs, "Service", f"{NAME}-metrics")["spec"]["ports"][0]["port"] == 8081
    # The bindings point at the renamed Roles.
    assert one(docs, "RoleBinding", NAME)["roleRef"]["name"] == "sealed-secrets-key-admin"
    proxier = one(docs, "RoleBinding", "sealed-secrets-service-proxier")
    assert proxier["roleRef"]["name"] == "sealed-secrets-service-proxier"
    assert proxier["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                    "name": "system:authenticated"}]
    role = one(docs, "Role", "sealed-secrets-service-proxier")
    names = {n for r in role["rules"] for n in r.get("resourceNames", [])}
    assert {NAME, f"http:{NAME}:", f"http:{NAME}:http"} <= names
    # Not Helm's.
    for d in docs:
        labels = d["metadata"].get("labels") or {}
        assert "helm.sh/chart" not in labels and "app.kubernetes.io/managed-by" not in labels
        assert not any(k.startswith("meta.helm.sh/") for k in d["metadata"].get("annotations") or {})


def test_controller_norbac_yaml_has_no_rbac() -> None:
    docs = manifest_docs("controller-norbac.yaml")
    assert sorted((d["kind"], d["metadata"]["name"]) for d in docs) == sorted([
        ("CustomResourceDefinition", "sealedsecrets.bitnami.com"), ("Service", NAME),
        ("Service", f"{NAME}-metrics"), ("Deployment", NAME)])
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "default"
    args = pod["containers"][0]["args"]
    assert "--leader-elect" not in args  # hand-made upstream RBAC grants no Leases
    assert one(docs, "Deployment")["spec"]["selector"] == {"matchLabels": {"name": NAME}}


# --------------------------------------------------------------------------------------------------
# Against the harness's cluster


def wait_for(what: str, probe: Callable[[], Any], timeout: float, logs: Callable[[], str]) -> Any:
    deadline = time.time() + timeout
    last: Any = None
    while time.time() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})\n{logs()}")


def harness() -> dict[str, str]:
    """The harness's variables; skips (or fails with SSRS_REQUIRE_CLUSTER=1) when this is not the
    harness's cluster: the test writes kube-system objects under upstream's cluster-wide names."""
    env = {k: os.environ.get(k, "") for k in ("KUBECONFIG", "SSRS_CLUSTER_DIR", "SSRS_NODE_NAME",
                                              "SSRS_NODE_NETNS", "SSRS_NODE_IP")}
    kubeconfig = env["KUBECONFIG"].split(os.pathsep)[0]
    ok = all(env.values()) and Path(kubeconfig).resolve().is_relative_to(Path(env["SSRS_CLUSTER_DIR"]).resolve())
    if not ok:
        if os.environ.get("SSRS_REQUIRE_CLUSTER") == "1":
            pytest.fail("SSRS_REQUIRE_CLUSTER=1 but no harness cluster with a node (KUBECONFIG inside "
                        "SSRS_CLUSTER_DIR, SSRS_NODE_*): eval \"$(tests/cluster/cluster.sh up)\"")
        pytest.skip("not the harness's cluster with a node (tests/cluster/cluster.sh up)")
    env["KUBECONFIG"] = kubeconfig
    return env


def key_secrets(kube: Kube) -> list[dict[str, Any]]:
    sel = urllib.parse.quote(KEY_LABEL)
    status, out = kube.request("GET", f"/api/v1/namespaces/{NS}/secrets?labelSelector={sel}")
    assert status == 200, out
    return out["items"]


def kubeseal(env: dict[str, str], *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """kubeseal with its default controller flags: no --controller-*, no SEALED_SECRETS_* env."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SEALED_SECRETS_") and k != "KUBECONFIG"}
    return subprocess.run([str(binary("SSRS_KUBESEAL_BIN", "kubeseal")), *args, "--kubeconfig", env["KUBECONFIG"]],
                          input=stdin, capture_output=True, env=clean, timeout=120)


@pytest.fixture(scope="module")
def installed(kube: Kube, request: pytest.FixtureRequest):  # noqa: F811
    """controller.yaml applied (Deployment at replicas 0), the placeholder Pod, APP_NS; all removed
    afterwards, with the key Secrets and the Lease the controller made."""
    env = harness()
    docs = manifest_docs("controller.yaml")
    ensure_crd(kube)
    for d in docs:
        if d["kind"] == "CustomResourceDefinition":
            continue
        status, cur = kube.request("GET", kube.path_of(d))
        instance = (cur.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/instance")
        if status == 200 and instance != NAME:
            pytest.fail(f"{d['kind']} {d['metadata']['name']} already exists and is not from "
                        f"controller.yaml (instance {instance!r}): another install on this cluster")
    before = key_secrets(kube)
    if before:
        pytest.fail(f"{NS} already holds key Secrets {[s['metadata']['name'] for s in before]} (an earlier "
                    "install on this cluster): this test proves that the controller creates its first key")
    applied: list[dict[str, Any]] = []
    app_ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APP_NS}}
    pod_path = f"/api/v1/namespaces/{NS}/pods/{POD_NAME}"
    try:
        status, out = kube.apply(app_ns, dry_run=False)
        assert status in (200, 201), out
        for d in docs:
            obj = json.loads(json.dumps(d))
            if obj["kind"] == "Deployment":
                obj["spec"]["replicas"] = 0
            if obj["kind"] == "CustomResourceDefinition":
                continue  # ensure_crd applied it (the same file: test_controller_yaml_has_upstreams_names)
            status, out = kube.apply(obj, dry_run=False)
            assert status in (200, 201), ("apply", obj["kind"], obj["metadata"]["name"], out)
            applied.append(obj)
        template = one(docs, "Deployment", NAME)["spec"]["template"]
        (c,) = template["spec"]["containers"]
        placeholder = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": POD_NAME, "namespace": NS, "labels": template["metadata"]["labels"]},
            # Critical (kube-system): the kubelet admits and keeps it under disk pressure, which a
            # shared test machine with < 10 % free disk puts the node in.
            "spec": {"nodeName": env["SSRS_NODE_NAME"], "hostNetwork": True,
                     "priorityClassName": "system-node-critical",
                     "automountServiceAccountToken": False, "tolerations": [{"operator": "Exists"}],
                     "containers": [{"name": c["name"], "image": PAUSE_IMAGE, "imagePullPolicy": "Never",
                                     "ports": c["ports"]}]},
        }
        status, out = kube.request("POST", f"/api/v1/namespaces/{NS}/pods", placeholder)
        assert status == 201, out

        def ready() -> dict[str, Any] | None:
            _, pod = kube.request("GET", pod_path)
            st = pod.get("status") or {}
            ok = any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or [])
            return pod if ok and st.get("podIP") == env["SSRS_NODE_IP"] else None
        wait_for(f"placeholder Pod {NS}/{POD_NAME} Ready on {env['SSRS_NODE_IP']}", ready, 90,
                 lambda: json.dumps(kube.request("GET", pod_path)[1].get("status")))
        yield docs, env
    finally:
        kube.request("DELETE", f"{pod_path}?gracePeriodSeconds=0")
        deadline = time.time() + 60  # gone before a re-run places its own on the same host ports
        while kube.request("GET", pod_path)[0] != 404 and time.time() < deadline:
            time.sleep(0.5)
        for obj in reversed(applied):
            kube.request("DELETE", kube.path_of(obj))
        for s in key_secrets(kube):
            kube.request("DELETE", f"/api/v1/namespaces/{NS}/secrets/{s['metadata']['name']}")
        kube.request("DELETE", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{NAME}")
        kube.request("DELETE", kube.path_of(app_ns))


@pytest.fixture(scope="module")
def controller(kube: Kube, installed, tmp_path_factory: pytest.TempPathFactory,  # noqa: F811
               request: pytest.FixtureRequest):
    docs, env = installed
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"expirationSeconds": 3600}}
    status, out = kube.request("POST", f"/api/v1/namespaces/{NS}/serviceaccounts/{NAME}/token", review)
    assert status == 201, out
    kubeconfig = tmp_path_factory.mktemp("static-sa") / "kubeconfig"
    sa_kubeconfig(env["KUBECONFIG"], out["status"]["token"], kubeconfig, namespace=NS)
    (c,) = one(docs, "Deployment", NAME)["spec"]["template"]["spec"]["containers"]
    assert "command" not in c  # the image's entrypoint: the controller binary
    field_values = {"metadata.namespace": NS, "metadata.name": POD_NAME}
    proc_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("SEALED_SECRETS_", "KUBERNETES_")) and k not in ("KUBECONFIG", "POD_NAME", "POD_NAMESPACE")}
    for e in c["env"]:
        proc_env[e["name"]] = str(e["value"]) if "value" in e else field_values[e["valueFrom"]["fieldRef"]["fieldPath"]]
    # Exactly the Deployment's args (listening on :8080/:8081 in the pod netns), plus the token.
    argv = ["ip", "netns", "exec", env["SSRS_NODE_NETNS"], str(binary("SSRS_CONTROLLER_BIN", "controller")),
            *c["args"], "--kubeconfig", str(kubeconfig)]
    log = tmp_path_factory.mktemp("static-controller") / "controller.log"
    failed_before = request.session.testsfailed
    with open(log, "wb") as out_f:
        proc = subprocess.Popen(argv, env=proc_env, stdout=out_f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    ctl = Controller(proc, log, argv)
    try:
        yield ctl
    finally:
        ctl.stop()
        if request.session.testsfailed > failed_before:
            sys.__stderr__.write(f"\n--- controller log ({log}) ---\n{ctl.logs()}\n")
            sys.__stderr__.flush()


@pytest.fixture(scope="module")
def active_key(kube: Kube, controller: Controller) -> dict[str, Any]:  # noqa: F811
    def probe() -> list[dict[str, Any]]:
        if controller.proc.poll() is not None:
            pytest.fail(f"controller exited {controller.proc.returncode}\n{controller.logs()}")
        return [s for s in key_secrets(kube) if s["metadata"]["labels"].get(KEY_LABEL) == "active"]

    (key,) = wait_for(f"the controller's first key Secret in {NS}", probe, KEY_TIMEOUT, controller.logs)
    return key


def test_live_controller_generates_its_key_and_kubeseal_finds_it(
        kube: Kube, installed, controller: Controller, active_key: dict[str, Any]) -> None:  # noqa: F811
    _, env = installed
    assert active_key["metadata"]["name"].startswith("sealed-secrets-key")
    # The manifest's Service routes to the process (endpoints controller, placeholder Pod).

    def endpoint() -> bool:
        _, ep = kube.request("GET", f"/api/v1/namespaces/{NS}/endpoints/{NAME}")
        return any(a["ip"] == env["SSRS_NODE_IP"] for s in ep.get("subsets") or [] for a in s.get("addresses") or [])
    wait_for(f"Endpoints {NS}/{NAME} -> {env['SSRS_NODE_IP']}", endpoint, TIMEOUT, controller.logs)
    # kubeseal's defaults name exactly this Service: no lookup, nothing said on stderr.
    out = wait_for("kubeseal --fetch-cert with the default flags",
                   lambda: (r := kubeseal(env, "--fetch-cert")).returncode == 0 and r, TIMEOUT,
                   lambda: kubeseal(env, "--fetch-cert").stderr.decode(errors="replace") + controller.logs())
    assert out.stdout == base64.b64decode(active_key["data"]["tls.crt"])
    assert b"using the sealed-secrets controller service" not in out.stderr


def test_live_unseals_with_status_and_event(kube: Kube, installed, controller: Controller,  # noqa: F811
                                            active_key: dict[str, Any], tmp_path: Path) -> None:
    _, env = installed
    plain = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": APP_NS},
             "stringData": {"password": "s3cr3t-static-" + SUFFIX}}
    res = kubeseal(env, "-o", "yaml", stdin=yaml.safe_dump(plain).encode())  # cert fetched online
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    sealed = yaml.safe_load(res.stdout)
    assert sealed["kind"] == "SealedSecret" and b"s3cr3t" not in res.stdout
    # --validate goes through the Service to /v1/verify.
    res = kubeseal(env, "--validate", stdin=yaml.safe_dump(sealed).encode())
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    ss_path = f"/apis/bitnami.com/v1alpha1/namespaces/{APP_NS}/sealedsecrets"
    status, out = kube.request("POST", ss_path, sealed)
    assert status == 201, out
    uid = out["metadata"]["uid"]

    def secret() -> dict[str, Any] | None:
        status, s = kube.request("GET", f"/api/v1/namespaces/{APP_NS}/secrets/db")
        return s if status == 200 else None
    s = wait_for(f"Secret {APP_NS}/db", secret, TIMEOUT, controller.logs)
    assert base64.b64decode(s["data"]["password"]).decode() == "s3cr3t-static-" + SUFFIX

    def synced() -> dict[str, Any] | None:
        _, ss = kube.request("GET", f"{ss_path}/db")
        st = ss.get("status") or {}
        ok = any(c["type"] == "Synced" and c["status"] == "True" for c in st.get("conditions") or [])
        return ss if ok and st.get("observedGeneration") == 1 else None
    wait_for("status Synced=True, observedGeneration 1", synced, TIMEOUT, controller.logs)

    def event() -> dict[str, Any] | None:
        sel = urllib.parse.quote(f"involvedObject.uid={uid},reason=Unsealed")
        _, evs = kube.request("GET", f"/api/v1/namespaces/{APP_NS}/events?fieldSelector={sel}")
        return next(iter(evs.get("items") or []), None)
    ev = wait_for("the Unsealed Event (core/v1)", event, TIMEOUT, controller.logs)
    assert ev["type"] == "Normal" and ev["source"]["component"] == "sealed-secrets"
    assert controller.proc.poll() is None, controller.logs()
    assert "s3cr3t" not in controller.log.read_text(errors="replace")


def test_live_metrics_service_serves_the_dashboards_metrics(kube: Kube, installed,  # noqa: F811
                                                           controller: Controller,
                                                           active_key: dict[str, Any]) -> None:
    path = f"/api/v1/namespaces/{NS}/services/http:{NAME}-metrics:metrics/proxy/metrics"

    def scrape() -> str | None:
        status, out = kube.request("GET", path)
        return out.get("body") if status == 200 else None
    text = wait_for(f"/metrics through Service {NAME}-metrics", scrape, TIMEOUT, controller.logs)
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    dashboard = json.loads((CHART_DIR / "dashboards" / "sealed-secrets-controller.json").read_text())
    used = dashboard_metric_names(dashboard)
    # A histogram's _bucket series exist once it has an observation; kubeseal above made some.
    assert used <= exported, sorted(used - exported)


def test_live_service_account_has_only_the_manifests_rbac(kube: Kube, installed) -> None:  # noqa: F811
    sa, groups = f"system:serviceaccount:{NS}:{NAME}", ["system:serviceaccounts",
                                                         f"system:serviceaccounts:{NS}", "system:authenticated"]
    assert kube.can(sa, groups, "watch", "sealedsecrets", group="bitnami.com")
    assert kube.can(sa, groups, "update", "sealedsecrets", group="bitnami.com", namespace=APP_NS,
                    subresource="status")
    assert kube.can(sa, groups, "create", "events", namespace=APP_NS)
    assert kube.can(sa, groups, "update", "leases", group="coordination.k8s.io", namespace=NS, name=NAME)
    assert not kube.can(sa, groups, "delete", "secrets", namespace=APP_NS)
    assert not kube.can(sa, groups, "list", "pods", namespace=NS)
    assert not kube.can(sa, groups, "update", "sealedsecrets", group="bitnami.com", namespace=APP_NS)


def test_live_controller_norbac_applies(kube: Kube) -> None:  # noqa: F811
    """controller-norbac.yaml's objects, applied for real into a scratch namespace (the namespace is
    the one thing rewritten: kube-system holds controller.yaml's objects of the same names)."""
    harness()
    ensure_crd(kube)
    ns = f"ssrs-static-norbac-{SUFFIX}"
    ns_obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    status, out = kube.apply(ns_obj, dry_run=False)
    assert status in (200, 201), out
    try:
        for d in manifest_docs("controller-norbac.yaml"):
            if d["kind"] == "CustomResourceDefinition":
                continue
            d["metadata"]["namespace"] = ns
            if d["kind"] == "Deployment":
                d["spec"]["replicas"] = 0
            status, out = kube.apply(d, dry_run=False)
            assert status in (200, 201), (d["kind"], d["metadata"]["name"], out)
            status, out = kube.request("GET", kube.path_of(d))
            assert status == 200, out
    finally:
        kube.request("DELETE", kube.path_of(ns_obj))


def test_live_apply_over_upstreams_controller_yaml(kube: Kube) -> None:  # noqa: F811
    """The reason for the generator's rewrites: over objects shaped as upstream's controller.yaml
    (selector `name: sealed-secrets-controller`, container `sealed-secrets-controller`, RoleBinding
    `sealed-secrets-controller` -> Role `sealed-secrets-key-admin`), our manifest applies in place,
    one container; the chart's unrewritten Deployment and key RoleBinding are refused (immutable
    selector and roleRef). In a scratch namespace (the names are namespaced, so is the check)."""
    harness()
    gen = load_generator()
    ns = f"ssrs-static-over-{SUFFIX}"
    ns_obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    status, out = kube.apply(ns_obj, dry_run=False)
    assert status in (200, 201), out
    upstream = [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": NAME, "namespace": ns, "labels": {"name": NAME}},
         "spec": {"replicas": 0, "selector": {"matchLabels": {"name": NAME}},
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                  "template": {"metadata": {"labels": {"name": NAME}}, "spec": {"containers": [{
                      "name": NAME, "image": "docker.io/bitnami/sealed-secrets-controller:0.36.6",
                      "command": ["controller"], "ports": [{"name": "http", "containerPort": 8080}]}]}}}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "sealed-secrets-key-admin", "namespace": ns},
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": NAME, "namespace": ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "sealed-secrets-key-admin"},
         "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}]},
    ]

    def ours(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
        d = json.loads(json.dumps(one(docs, kind, name)))
        d["metadata"]["namespace"] = ns
        for sub in d.get("subjects") or []:
            if sub.get("namespace"):
                sub["namespace"] = ns
        if kind == "Deployment":
            d["spec"]["replicas"] = 0
        return d
    try:
        for obj in upstream:
            status, out = kube.request("POST", kube.path_of(obj).rsplit("/", 1)[0], obj)
            assert status == 201, out
        chart_docs = gen.render("controller.yaml")  # before the rewrites
        status, out = kube.apply(ours(chart_docs, "Deployment", NAME), dry_run=True)
        assert status == 422 and "immutable" in out.get("message", ""), (status, out)
        chart_rb = ours(chart_docs, "RoleBinding", f"{NAME}-key-admin")
        chart_rb["metadata"]["name"] = NAME  # the name upstream's binding has, the chart's roleRef
        status, out = kube.apply(chart_rb, dry_run=True)
        assert status == 422, (status, out)
        docs = manifest_docs("controller.yaml")
        for kind, name in (("Role", "sealed-secrets-key-admin"), ("RoleBinding", NAME), ("Deployment", NAME)):
            status, out = kube.apply(ours(docs, kind, name), dry_run=False)
            assert status == 200, (kind, name, out)  # updated in place, not created
        _, dep = kube.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments/{NAME}")
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        assert c["image"] == "sealed-secrets-rs:0.1.0"
        assert dep["spec"]["strategy"]["type"] == "RollingUpdate"
        _, role = kube.request("GET", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles/sealed-secrets-key-admin")
        assert any("watch" in r["verbs"] for r in role["rules"])
    finally:
        kube.request("DELETE", kube.path_of(ns_obj))
