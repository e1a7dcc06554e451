"""Tests of the Helm chart charts/sealed-secrets.

Offline: render the chart with Helm v4's engine (PyPI helm-python-sdk, no helm binary) across a
matrix of values, assert concrete properties, and run `helm lint --strict` on every case.

Against a real kube-apiserver (when KUBECONFIG is set, e.g. by tests/cluster/cluster.sh): server-side
dry-run of the default render, a real apply into a scratch namespace, RBAC checks through
SubjectAccessReview, then cleanup. Without KUBECONFIG these tests skip, or fail when
SSRS_REQUIRE_CLUSTER=1.

Run with tests/chart/run.sh.
"""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_python.chart import Chart, lint

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = Path(os.environ.get("SSRS_CHART_DIR") or ROOT / "charts" / "sealed-secrets")
CRD_FILE = CHART_DIR / "crds" / "bitnami.com_sealedsecrets.yaml"
RELEASE = "sealed-secrets"
NAMESPACE = "kube-system"
FULLNAME = "sealed-secrets"  # upstream's naming for release "sealed-secrets"

# name -> values. Every case is rendered and linted (strict).
MATRIX: dict[str, dict[str, Any]] = {
    "defaults": {},
    "replicas2": {"replicas": 2, "pdb": {"create": True}},
    "additional-namespaces": {"additionalNamespaces": ["team-a", "team-b"]},
    "metrics": {
        "metrics": {
            "serviceMonitor": {
                "enabled": True,
                "interval": "30s",
                "scrapeTimeout": "10s",
                "labels": {"release": "prometheus"},
            }
        }
    },
    "network-policy": {
        "networkPolicy": {
            "enabled": True,
            "egress": {"enabled": True, "kubeapiCidr": "10.0.0.1/32", "kubeapiPort": 6443},
        }
    },
    "ingress": {
        "ingress": {
            "enabled": True,
            "ingressClassName": "nginx",
            "hostname": "sealed-secrets.example.com",
            "tls": True,
            "selfSigned": True,
        }
    },
    "rbac-off": {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "custom"}},
    "service-proxier-off": {"rbac": {"serviceProxier": {"create": False}}},
    "namespaced-rbac": {
        "rbac": {"clusterRole": False, "namespacedRoles": True},
        "additionalNamespaces": ["team-a"],
    },
    "flags": {
        "keyrenewperiod": "0",
        "ui": {"enabled": True},
        "keycutofftime": "Mon, 02 Jan 2006 15:04:05 -0700",
        "keyttl": "8760h",
        "rateLimit": 5,
        "rateLimitBurst": 10,
        "updateStatus": False,
        "skipRecreate": True,
        "watchForSecrets": True,
        "logLevel": "DEBUG",
        "logFormat": "json",
        "maxRetries": 7,
        "keyOrderPriority": "SecretCreationTimestamp",
        "privateKeyAnnotations": {"b.example.com/x": "1", "a.example.com/y": "2"},
        "privateKeyLabels": {"team": "platform"},
        "commandArgs": ["--old-gc-behavior"],
        "extraEnv": [{"name": "SEALED_SECRETS_KEY_SIZE", "value": "4096"}],
        "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "50m"}},
        "podAnnotations": {"example.com/a": "b"},
        "podLabels": {"tier": "security"},
        "priorityClassName": "system-cluster-critical",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "k", "operator": "Exists"}],
    },
    "kubeseal-default-naming": {"fullnameOverride": "sealed-secrets-controller"},
    "leader-election-off": {"leaderElection": {"enabled": False}},
    "old-kubernetes": {
        "kubeVersion": "1.20.2",
        "replicas": 3,
        "pdb": {"create": True},
        "ingress": {"enabled": True},
    },
}


# --------------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture(scope="session")
def chart() -> Chart:
    return Chart.load(CHART_DIR)


def render(chart: Chart, values: dict[str, Any] | None = None, *, name: str = RELEASE,
           namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """Render and parse every manifest (NOTES.txt excluded)."""
    out = chart.render(values=values or {}, name=name, namespace=namespace)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                docs.append(doc)
    return docs


def notes(chart: Chart, values: dict[str, Any] | None = None, **kw: Any) -> str:
    out = chart.render(values=values or {}, name=kw.get("name", RELEASE),
                       namespace=kw.get("namespace", NAMESPACE))
    return next(v for k, v in out.items() if k.endswith("NOTES.txt"))


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None,
         namespace: str | None = None) -> list[dict[str, Any]]:
    return [
        d for d in docs
        if d["kind"] == kind
        and (name is None or d["metadata"]["name"] == name)
        and (namespace is None or d["metadata"].get("namespace") == namespace)
    ]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None,
        namespace: str | None = None) -> dict[str, Any]:
    found = find(docs, kind, name, namespace)
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    dep = one(docs, "Deployment", FULLNAME)
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def arg_value(args: list[str], flag: str) -> str | None:
    """Value of `--flag value` or `--flag=value`; None if absent."""
    for i, a in enumerate(args):
        if a == flag:
            return args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else ""
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def rules_grant(rules: list[dict[str, Any]], group: str, resource: str, verb: str,
                name: str | None = None) -> bool:
    for r in rules:
        if group in r.get("apiGroups", []) and resource in r.get("resources", []) \
                and verb in r.get("verbs", []):
            names = r.get("resourceNames")
            if not names or (name is not None and name in names):
                return True
    return False


def lint_problems(values: dict[str, Any]) -> list[str]:
    # Lint for the Kubernetes version the values target (deprecation checks depend on it).
    kube_version = values.get("kubeVersion")
    report = lint(CHART_DIR, values=values, strict=True, namespace=NAMESPACE,
                  kube_version=f"v{kube_version.lstrip('v')}" if kube_version else None)
    problems = [f"{m['path']}: {m['error']}" for m in report.get("messages") or []
                if m.get("severity", 0) >= 2]
    problems += list(report.get("errors") or [])
    assert report.get("total_charts_linted") == 1
    return problems


# --------------------------------------------------------------------------------------------------
# Whole matrix: renders, lints clean, basic invariants


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_matrix_renders_and_lints_clean(chart: Chart, case: str) -> None:
    values = MATRIX[case]
    docs = render(chart, values)
    assert docs, "nothing rendered"
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding"}
    for d in docs:
        assert d.get("apiVersion") and d.get("kind"), d
        md = d["metadata"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.:]*[a-z0-9])?", md["name"]), md["name"]
        assert len(md["name"]) <= 63 or d["kind"] in cluster_scoped
        labels = md.get("labels") or {}
        assert labels.get("app.kubernetes.io/name") == "sealed-secrets"
        assert labels.get("app.kubernetes.io/instance") == RELEASE
        assert labels.get("app.kubernetes.io/part-of") == "sealed-secrets"
        if d["kind"] in cluster_scoped:
            assert "namespace" not in md
        elif d["kind"] == "ServiceMonitor":
            assert md["namespace"] == NAMESPACE
        elif d["kind"] in ("Role", "RoleBinding") and md["name"] == "secrets-unsealer":
            assert md["namespace"] in [NAMESPACE, *values.get("additionalNamespaces", [])]
        else:
            assert md["namespace"] == NAMESPACE, (d["kind"], md)
    assert lint_problems(values) == []


def test_lint_reports_errors(chart: Chart) -> None:
    """The linter really checks the rendered objects: a bad name is an error. (Helm's lint mode
    turns template `fail` calls into log lines, so those are checked through render.)"""
    problems = lint_problems({"fullnameOverride": "Bad_Name"})
    assert any("Bad_Name" in p for p in problems), problems
    with pytest.raises(Exception, match="privateKeyLabels"):
        render(chart, {"privateKeyLabels": {"team": 3}})


# --------------------------------------------------------------------------------------------------
# Defaults


def test_chart_metadata(chart: Chart) -> None:
    md = chart.metadata
    assert md["apiVersion"] == "v2"
    assert md["name"] == "sealed-secrets"
    assert md["version"] == "0.1.0"
    assert md["appVersion"] == "0.1.0"
    assert md["kubeVersion"] == ">=1.16.0-0"


def test_default_names_are_upstreams(chart: Chart) -> None:
    """Release sealed-secrets gives objects named sealed-secrets, as upstream's chart: an upgrade
    from it renames nothing. kubeseal proxies to the port named by spec.ports[0].name."""
    docs = render(chart)
    svc = one(docs, "Service", FULLNAME, NAMESPACE)
    # Labels kubeseal recognises a controller Service by, when --controller-name is its default.
    assert svc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "sealed-secrets"
    assert svc["metadata"]["labels"]["app.kubernetes.io/name"] == "sealed-secrets"
    assert svc["spec"]["ports"][0]["name"] == "http"
    assert svc["spec"]["ports"][0]["port"] == 8080
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    assert svc["spec"]["type"] == "ClusterIP"
    dep = one(docs, "Deployment", FULLNAME, NAMESPACE)
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert dep["spec"]["template"]["metadata"]["labels"].items() >= svc["spec"]["selector"].items()
    # Same selector labels as upstream, so an in-place upgrade from upstream's chart keeps it.
    assert dep["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "sealed-secrets",
        "app.kubernetes.io/instance": RELEASE,
    }
    one(docs, "ServiceAccount", FULLNAME, NAMESPACE)
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == FULLNAME
    metrics = one(docs, "Service", f"{FULLNAME}-metrics", NAMESPACE)
    assert metrics["spec"]["ports"][0]["name"] == "metrics"
    assert metrics["spec"]["ports"][0]["port"] == 8081
    assert metrics["metadata"]["labels"]["app.kubernetes.io/component"] == "metrics"
    assert "kubeseal --format yaml" in notes(chart)


def test_default_name_follows_the_release_name_as_upstream(chart: Chart) -> None:
    docs = render(chart, name="whatever", namespace="security")
    one(docs, "Service", "whatever-sealed-secrets", "security")
    docs = render(chart, name="prod")
    one(docs, "Service", "prod-sealed-secrets", NAMESPACE)
    assert "kubeseal --format yaml" in notes(chart, name="prod")
    assert "--controller-name whatever-sealed-secrets --controller-namespace security" in notes(
        chart, name="whatever", namespace="security")


def test_fullname_override_names_everything(chart: Chart) -> None:
    values = {"fullnameOverride": "sealed-secrets-controller"}
    docs = render(chart, values, name="prod")
    one(docs, "Service", "sealed-secrets-controller", NAMESPACE)
    one(docs, "Deployment", "sealed-secrets-controller", NAMESPACE)


def test_namespace_override(chart: Chart) -> None:
    docs = render(chart, {"namespaceOverride": "sealed"})
    for d in docs:
        if d["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert d["metadata"]["namespace"] == "sealed"
    crb = one(docs, "ClusterRoleBinding", FULLNAME)
    assert crb["subjects"][0]["namespace"] == "sealed"


def test_default_container(chart: Chart) -> None:
    docs = render(chart)
    dep = one(docs, "Deployment", FULLNAME)
    assert dep["spec"]["replicas"] == 1
    c = container(docs)
    assert c["name"] == "controller"
    assert c["image"] == "sealed-secrets-rs:0.1.0"
    assert "command" not in c  # the image's ENTRYPOINT /usr/local/bin/controller
    args = c["args"]
    assert arg_value(args, "--listen-addr") == ":8080"
    assert arg_value(args, "--listen-metrics-addr") == ":8081"
    assert arg_value(args, "--key-prefix") == "sealed-secrets-key"
    assert "--update-status" in args
    assert arg_value(args, "--leader-elect") == ""
    assert arg_value(args, "--leader-election-namespace") is None  # the Lease is in POD_NAMESPACE
    assert arg_value(args, "--leader-election-name") == FULLNAME
    for absent in ("--all-namespaces", "--additional-namespaces", "--key-renew-period",
                   "--skip-recreate", "--rate-limit", "--log-level"):
        assert arg_value(args, absent) is None, absent
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 8080, "metrics": 8081}
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert dep["spec"]["strategy"] == {"type": "Recreate", "rollingUpdate": None}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert "startupProbe" not in c
    assert "resources" not in c
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]


def test_security_context_restricted(chart: Chart) -> None:
    docs = render(chart)
    pod = one(docs, "Deployment", FULLNAME)["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert psc["fsGroup"] == 65534
    sc = container(docs)["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 1001
    assert sc["runAsGroup"] == 1001
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "enabled" not in sc and "enabled" not in psc
    assert not pod.get("hostNetwork")
    # Dockerfile's USER matches the chart's runAsUser.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 1001:1001$", dockerfile, re.M)


def test_default_rbac_least_privilege(chart: Chart) -> None:
    docs = render(chart)
    cr = one(docs, "ClusterRole", "secrets-unsealer")
    rules = cr["rules"]
    for verb in ("get", "list", "watch"):
        assert rules_grant(rules, "bitnami.com", "sealedsecrets", verb)
    assert not rules_grant(rules, "bitnami.com", "sealedsecrets", "update")
    assert not rules_grant(rules, "bitnami.com", "sealedsecrets", "delete")
    assert rules_grant(rules, "bitnami.com", "sealedsecrets/status", "update")
    assert rules_grant(rules, "bitnami.com", "sealedsecrets/status", "patch")
    for verb in ("get", "list", "watch", "create", "update", "patch"):
        assert rules_grant(rules, "", "secrets", verb), verb
    # delete only with --old-gc-behavior (test_secrets_delete_only_with_old_gc_behavior).
    assert not rules_grant(rules, "", "secrets", "delete")
    assert rules_grant(rules, "", "events", "create")
    assert rules_grant(rules, "events.k8s.io", "events", "create")
    # No namespaces, leases or wildcards cluster-wide by default.
    assert not rules_grant(rules, "", "namespaces", "get")
    assert not rules_grant(rules, "coordination.k8s.io", "leases", "get")
    for r in rules:
        assert "*" not in r["verbs"] and "*" not in r["resources"] and "*" not in r["apiGroups"]
    crb = one(docs, "ClusterRoleBinding", FULLNAME)
    assert crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": "secrets-unsealer"}
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]

    key_admin = one(docs, "Role", f"{FULLNAME}-key-admin", NAMESPACE)
    for verb in ("get", "list", "watch", "create"):
        assert rules_grant(key_admin["rules"], "", "secrets", verb)
    assert not rules_grant(key_admin["rules"], "", "secrets", "delete")
    rb = one(docs, "RoleBinding", f"{FULLNAME}-key-admin", NAMESPACE)
    assert rb["roleRef"]["name"] == f"{FULLNAME}-key-admin"


def test_secrets_delete_only_with_old_gc_behavior(chart: Chart) -> None:
    """Cluster-wide Secret delete is used only by --old-gc-behavior, so only then is it granted,
    however the flag reaches the controller (commandArgs, args override, extraEnv)."""
    def grants_delete(values: dict[str, Any]) -> bool:
        docs = render(chart, values)
        roles = find(docs, "ClusterRole", "secrets-unsealer") + find(docs, "Role", "secrets-unsealer")
        assert roles
        grants = {rules_grant(r["rules"], "", "secrets", "delete") for r in roles}
        assert len(grants) == 1, grants
        for r in roles:
            for verb in ("get", "list", "watch", "create", "update"):
                assert rules_grant(r["rules"], "", "secrets", verb), verb
        return grants.pop()

    env = "SEALED_SECRETS_OLD_GC_BEHAVIOR"
    assert not grants_delete({})
    assert grants_delete({"commandArgs": ["--old-gc-behavior"]})
    assert grants_delete(MATRIX["flags"])
    for value in ("true", "1", "t", "True"):
        assert grants_delete({"commandArgs": [f"--old-gc-behavior={value}"]}), value
        assert grants_delete({"extraEnv": [{"name": env, "value": value}]}), value
    for value in ("false", "0", "F"):
        assert not grants_delete({"commandArgs": [f"--old-gc-behavior={value}"]}), value
        assert not grants_delete({"extraEnv": [{"name": env, "value": value}]}), value
    assert not grants_delete({"commandArgs": ["--skip-recreate"], "extraEnv": [{"name": "X", "value": "1"}]})
    assert grants_delete({"args": ["--key-prefix", "x", "--old-gc-behavior"]})
    assert grants_delete({"rbac": {"clusterRole": False, "namespacedRoles": True},
                          "additionalNamespaces": ["team-a"], "commandArgs": ["--old-gc-behavior"]})
    assert not grants_delete({"rbac": {"clusterRole": False, "namespacedRoles": True},
                              "additionalNamespaces": ["team-a"]})
    # Never in the key-admin Role either: key Secrets are not deleted by the controller.
    for values in ({}, {"commandArgs": ["--old-gc-behavior"]}):
        key_admin = one(render(chart, values), "Role", f"{FULLNAME}-key-admin")
        assert not rules_grant(key_admin["rules"], "", "secrets", "delete")


def test_leader_election_rbac_always(chart: Chart) -> None:
    for values in ({}, {"replicas": 2}, {"replicas": 5}):
        docs = render(chart, values)
        role = one(docs, "Role", f"{FULLNAME}-leader-election", NAMESPACE)
        rules = role["rules"]
        assert rules_grant(rules, "coordination.k8s.io", "leases", "create")
        for verb in ("get", "update"):
            assert rules_grant(rules, "coordination.k8s.io", "leases", verb, name=FULLNAME)
            assert not rules_grant(rules, "coordination.k8s.io", "leases", verb, name="other")
        rb = one(docs, "RoleBinding", f"{FULLNAME}-leader-election", NAMESPACE)
        assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                 "name": f"{FULLNAME}-leader-election"}
        assert rb["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME,
                                   "namespace": NAMESPACE}]
        assert "--leader-elect" in container(docs)["args"]
    docs = render(chart, {"leaderElection": {"enabled": False}})
    assert not find(docs, "Role", f"{FULLNAME}-leader-election")
    assert "strategy" not in one(docs, "Deployment", FULLNAME)["spec"]
    assert "--leader-elect" not in container(docs)["args"]
    docs = render(chart, {"leaderElection": {"leaseName": "my-lease"}})
    assert arg_value(container(docs)["args"], "--leader-election-name") == "my-lease"
    role = one(docs, "Role", f"{FULLNAME}-leader-election")
    assert rules_grant(role["rules"], "coordination.k8s.io", "leases", "update", name="my-lease")


def test_service_proxier_matches_upstream(chart: Chart) -> None:
    docs = render(chart)
    role = one(docs, "Role", f"{FULLNAME}-service-proxier", NAMESPACE)
    rules = role["rules"]
    assert rules_grant(rules, "", "services", "get", name=FULLNAME)
    for proxy_name in (f"http:{FULLNAME}:", f"http:{FULLNAME}:http", FULLNAME):
        for verb in ("get", "create"):
            assert rules_grant(rules, "", "services/proxy", verb, name=proxy_name)
    assert not rules_grant(rules, "", "services/proxy", "get", name="http:other:http")
    rb = one(docs, "RoleBinding", f"{FULLNAME}-service-proxier", NAMESPACE)
    assert rb["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                               "name": "system:authenticated"}]
    # Configurable subjects, and bind=false keeps only the Role.
    subjects = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"}]
    docs = render(chart, {"rbac": {"serviceProxier": {"subjects": subjects}}})
    assert one(docs, "RoleBinding", f"{FULLNAME}-service-proxier")["subjects"] == subjects
    docs = render(chart, {"rbac": {"serviceProxier": {"bind": False}}})
    one(docs, "Role", f"{FULLNAME}-service-proxier")
    assert not find(docs, "RoleBinding", f"{FULLNAME}-service-proxier")


def test_service_proxier_off(chart: Chart) -> None:
    docs = render(chart, MATRIX["service-proxier-off"])
    assert not find(docs, "Role", f"{FULLNAME}-service-proxier")
    assert not find(docs, "RoleBinding", f"{FULLNAME}-service-proxier")
    one(docs, "ClusterRole", "secrets-unsealer")


def test_rbac_off(chart: Chart) -> None:
    docs = render(chart, MATRIX["rbac-off"])
    kinds = {d["kind"] for d in docs}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    assert not find(docs, "ServiceAccount")
    dep = one(docs, "Deployment", FULLNAME)
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == "custom"


def test_additional_namespaces(chart: Chart) -> None:
    docs = render(chart, MATRIX["additional-namespaces"])
    args = container(docs)["args"]
    assert arg_value(args, "--additional-namespaces") == "team-a,team-b"
    assert arg_value(args, "--all-namespaces") is None
    cr = one(docs, "ClusterRole", "secrets-unsealer")
    assert rules_grant(cr["rules"], "", "namespaces", "get", name="team-a")
    assert rules_grant(cr["rules"], "", "namespaces", "get", name="team-b")
    assert not rules_grant(cr["rules"], "", "namespaces", "get", name="kube-public")
    assert not rules_grant(cr["rules"], "", "namespaces", "list")


def test_namespaced_rbac(chart: Chart) -> None:
    docs = render(chart, MATRIX["namespaced-rbac"])
    assert not find(docs, "ClusterRole", "secrets-unsealer")
    for ns in (NAMESPACE, "team-a"):
        role = one(docs, "Role", "secrets-unsealer", ns)
        assert rules_grant(role["rules"], "bitnami.com", "sealedsecrets", "watch")
        assert rules_grant(role["rules"], "", "secrets", "create")
        rb = one(docs, "RoleBinding", "secrets-unsealer", ns)
        assert rb["subjects"][0]["namespace"] == NAMESPACE
    # Namespaces are cluster-scoped: a small ClusterRole for exactly the listed names.
    reader = one(docs, "ClusterRole", f"{FULLNAME}-namespace-reader")
    assert rules_grant(reader["rules"], "", "namespaces", "get", name="team-a")
    assert len(reader["rules"]) == 1
    # The controller must not try to watch all namespaces.
    args = container(docs)["args"]
    assert "--all-namespaces=false" in args
    assert arg_value(args, "--additional-namespaces") == "team-a"


def test_replicas_2(chart: Chart) -> None:
    docs = render(chart, MATRIX["replicas2"])
    dep = one(docs, "Deployment", FULLNAME)
    assert dep["spec"]["replicas"] == 2
    assert "strategy" not in dep["spec"]  # RollingUpdate: a standby replica takes over the Lease
    pod = dep["spec"]["template"]["spec"]
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert anti["podAffinityTerm"]["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    assert "--leader-elect" in container(docs)["args"]
    one(docs, "Role", f"{FULLNAME}-leader-election", NAMESPACE)
    pdb = one(docs, "PodDisruptionBudget", FULLNAME, NAMESPACE)
    assert pdb["apiVersion"] == "policy/v1"  # Helm's default (recent) Kubernetes version offline
    assert pdb["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


def test_pdb(chart: Chart) -> None:
    assert not find(render(chart), "PodDisruptionBudget")
    # One replica: a budget that never blocks a node drain.
    pdb = one(render(chart, {"pdb": {"create": True}}), "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": pdb["spec"]["selector"]}
    pdb = one(render(chart, {"pdb": {"create": True, "minAvailable": "50%"}}), "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == "50%"
    pdb = one(render(chart, {"pdb": {"create": True, "maxUnavailable": 2}}), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 2
    # Kubernetes 1.20 has only policy/v1beta1.
    docs = render(chart, MATRIX["old-kubernetes"])
    assert one(docs, "PodDisruptionBudget")["apiVersion"] == "policy/v1beta1"
    ing = one(docs, "Ingress")
    assert ing["apiVersion"] == "networking.k8s.io/v1"
    docs = render(chart, {"kubeVersion": "1.18.0", "ingress": {"enabled": True}})
    ing = one(docs, "Ingress")
    assert ing["apiVersion"] == "networking.k8s.io/v1beta1"
    assert ing["spec"]["rules"][0]["http"]["paths"][0]["backend"] == {
        "serviceName": FULLNAME, "servicePort": "http"}


def test_metrics_service_monitor(chart: Chart) -> None:
    assert not find(render(chart), "ServiceMonitor")
    docs = render(chart, MATRIX["metrics"])
    sm = one(docs, "ServiceMonitor", FULLNAME, NAMESPACE)
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    ep = sm["spec"]["endpoints"][0]
    assert ep["port"] == "metrics"
    assert ep["interval"] == "30s" and ep["scrapeTimeout"] == "10s"
    assert ep["honorLabels"] is True
    metrics_svc = one(docs, "Service", f"{FULLNAME}-metrics")
    assert sm["spec"]["selector"]["matchLabels"].items() <= metrics_svc["metadata"]["labels"].items()
    # The main Service must not be selected (it lacks the component label).
    main_svc = one(docs, "Service", FULLNAME)
    assert not sm["spec"]["selector"]["matchLabels"].items() <= main_svc["metadata"]["labels"].items()
    assert sm["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    sm = one(render(chart, {"metrics": {"serviceMonitor": {"enabled": True, "namespace": "monitoring"}}}),
             "ServiceMonitor")
    assert sm["metadata"]["namespace"] == "monitoring"
    assert sm["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}


def test_network_policy(chart: Chart) -> None:
    assert not find(render(chart), "NetworkPolicy")
    docs = render(chart, MATRIX["network-policy"])
    np_ = one(docs, "NetworkPolicy", FULLNAME, NAMESPACE)
    dep = one(docs, "Deployment", FULLNAME)
    assert np_["spec"]["podSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    assert np_["spec"]["policyTypes"] == ["Ingress", "Egress"]
    ports = {p["port"] for p in np_["spec"]["ingress"][0]["ports"]}
    assert ports == {"http", "metrics"}
    assert "from" not in np_["spec"]["ingress"][0]  # the apiserver's service proxy must get in
    egress = np_["spec"]["egress"]
    assert egress == [{"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}],
                       "ports": [{"port": 6443, "protocol": "TCP"}]}]
    # Ingress-only policy by default.
    np_ = one(render(chart, {"networkPolicy": {"enabled": True}}), "NetworkPolicy")
    assert np_["spec"]["policyTypes"] == ["Ingress"]
    # Egress without a CIDR needs a live lookup; offline it must fail loudly, not allow nothing.
    with pytest.raises(Exception, match="kubeapiCidr"):
        render(chart, {"networkPolicy": {"enabled": True, "egress": {"enabled": True}}})


def test_ingress(chart: Chart) -> None:
    assert not find(render(chart), "Ingress")
    docs = render(chart, MATRIX["ingress"])
    ing = one(docs, "Ingress", FULLNAME, NAMESPACE)
    assert ing["apiVersion"] == "networking.k8s.io/v1"
    assert ing["spec"]["ingressClassName"] == "nginx"
    rule = ing["spec"]["rules"][0]
    assert rule["host"] == "sealed-secrets.example.com"
    path = rule["http"]["paths"][0]
    assert path["path"] == "/v1/cert.pem"
    assert path["pathType"] == "ImplementationSpecific"
    assert path["backend"] == {"service": {"name": FULLNAME, "port": {"name": "http"}}}
    assert ing["spec"]["tls"] == [{"hosts": ["sealed-secrets.example.com"],
                                   "secretName": "sealed-secrets.example.com-tls"}]
    tls = one(docs, "Secret", "sealed-secrets.example.com-tls", NAMESPACE)
    assert tls["type"] == "kubernetes.io/tls"
    assert base64.b64decode(tls["data"]["tls.crt"]).startswith(b"-----BEGIN CERTIFICATE-----")


def test_values_to_flags(chart: Chart) -> None:
    docs = render(chart, MATRIX["flags"])
    c = container(docs)
    args = c["args"]
    assert arg_value(args, "--key-renew-period") == "0"
    assert arg_value(args, "--key-cutoff-time") == "Mon, 02 Jan 2006 15:04:05 -0700"
    assert arg_value(args, "--key-ttl") == "8760h"
    assert arg_value(args, "--rate-limit") == "5"
    assert arg_value(args, "--rate-limit-burst") == "10"
    assert "--update-status=false" in args and "--update-status" not in args
    assert "--skip-recreate" in args
    assert "--watch-for-secrets" in args
    assert arg_value(args, "--log-level") == "DEBUG"
    assert arg_value(args, "--log-format") == "json"
    assert arg_value(args, "--max-unseal-retries") == "7"
    assert arg_value(args, "--key-order-priority") == "SecretCreationTimestamp"
    assert arg_value(args, "--privatekey-annotations") == "a.example.com/y=2,b.example.com/x=1"
    assert arg_value(args, "--privatekey-labels") == "team=platform"
    assert "--ui" in args
    assert args[-1] == "--old-gc-behavior"
    assert all(isinstance(a, str) for a in args)
    env = {e["name"]: e for e in c["env"]}
    assert env["SEALED_SECRETS_KEY_SIZE"]["value"] == "4096"
    assert "POD_NAMESPACE" in env
    assert c["resources"] == {"limits": {"memory": "256Mi"}, "requests": {"cpu": "50m"}}
    pod = one(docs, "Deployment", FULLNAME)["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"example.com/a": "b"}
    assert pod["metadata"]["labels"]["tier"] == "security"
    assert pod["spec"]["priorityClassName"] == "system-cluster-critical"
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["spec"]["tolerations"] == [{"key": "k", "operator": "Exists"}]


def test_ui_flag(chart: Chart) -> None:
    assert "--ui" not in container(render(chart))["args"]
    args = container(render(chart, {"ui": {"enabled": True}}))["args"]
    assert args.count("--ui") == 1
    assert arg_value(args, "--listen-addr") == ":8080"
    # docs/ui.md's Ingress: /ui/ and the two endpoints the page calls, nothing else.
    backend = {"service": {"name": FULLNAME, "port": {"name": "http"}}}
    docs = render(chart, {"ui": {"enabled": True}, "ingress": {
        "enabled": True, "hostname": "seal.example.com", "tls": True, "path": "/ui/", "pathType": "Prefix",
        "extraPaths": [{"path": p, "pathType": "Exact", "backend": backend}
                       for p in ["/v1/cert.pem", "/v1/verify"]]}})
    paths = one(docs, "Ingress", FULLNAME, NAMESPACE)["spec"]["rules"][0]["http"]["paths"]
    assert sorted((p["path"], p["pathType"]) for p in paths) == [
        ("/ui/", "Prefix"), ("/v1/cert.pem", "Exact"), ("/v1/verify", "Exact")]
    assert all(p["backend"] == backend for p in paths)


def test_args_override_and_image(chart: Chart) -> None:
    docs = render(chart, {"args": ["--key-prefix", "x"], "command": ["/usr/local/bin/controller"],
                          "image": {"registry": "ghcr.io", "repository": "acme/ssrs", "tag": "1.2.3"}})
    c = container(docs)
    assert c["args"] == ["--key-prefix", "x"]
    assert c["command"] == ["/usr/local/bin/controller"]
    assert c["image"] == "ghcr.io/acme/ssrs:1.2.3"
    c = container(render(chart, {"image": {"digest": "sha256:" + "a" * 64}}))
    assert c["image"] == "sealed-secrets-rs@sha256:" + "a" * 64


def test_other_ports_and_probes(chart: Chart) -> None:
    docs = render(chart, {"containerPorts": {"http": 9090, "metrics": 9091},
                          "service": {"port": 80, "type": "NodePort", "nodePort": 30080},
                          "startupProbe": {"enabled": True, "failureThreshold": 30}})
    c = container(docs)
    assert arg_value(c["args"], "--listen-addr") == ":9090"
    assert arg_value(c["args"], "--listen-metrics-addr") == ":9091"
    assert c["startupProbe"]["failureThreshold"] == 30
    assert c["startupProbe"]["httpGet"]["port"] == "http"
    svc = one(docs, "Service", FULLNAME)
    assert svc["spec"]["ports"][0] == {"name": "http", "port": 80, "targetPort": "http",
                                       "protocol": "TCP", "nodePort": 30080}


def test_create_controller_false(chart: Chart) -> None:
    """As upstream's chart: no Deployment, no Services, no Ingress (nor its TLS Secret); the CRD,
    ServiceAccount and RBAC stay (for a controller run elsewhere)."""
    values = {"createController": False, "pdb": {"create": True},
              "ingress": {"enabled": True, "tls": True, "selfSigned": True}}
    docs = render(chart, values)
    for kind in ("Deployment", "Service", "Ingress", "Secret", "PodDisruptionBudget"):
        assert not find(docs, kind), kind
    one(docs, "ServiceAccount", FULLNAME)
    one(docs, "ClusterRole", "secrets-unsealer")
    one(docs, "ClusterRoleBinding", FULLNAME)
    one(docs, "Role", f"{FULLNAME}-key-admin")
    assert lint_problems(values) == []
    text = notes(chart, values)
    assert "createController=false" in text and "kubeseal" not in text.replace("point kubeseal", "")


def test_service_proxier_subjects_string_or_list(chart: Chart) -> None:
    """Upstream's values.yaml has the subjects as a YAML string; both forms go through tpl."""
    text = ("- apiGroup: rbac.authorization.k8s.io\n  kind: Group\n  name: {{ .Release.Name }}-devs\n"
            "- kind: ServiceAccount\n  name: ci\n  namespace: {{ .Release.Namespace }}\n")
    want = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "sealed-secrets-devs"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": NAMESPACE}]
    as_list = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "{{ .Release.Name }}-devs"},
               {"kind": "ServiceAccount", "name": "ci", "namespace": "{{ .Release.Namespace }}"}]
    for subjects in (text, as_list):
        values = {"rbac": {"serviceProxier": {"subjects": subjects}}}
        rb = one(render(chart, values), "RoleBinding", f"{FULLNAME}-service-proxier")
        assert rb["subjects"] == want, subjects
        assert lint_problems(values) == []
    # An empty string, like an empty list, means no binding (the Role stays).
    docs = render(chart, {"rbac": {"serviceProxier": {"subjects": ""}}})
    one(docs, "Role", f"{FULLNAME}-service-proxier")
    assert not find(docs, "RoleBinding", f"{FULLNAME}-service-proxier")


def test_cluster_role_false_binds_the_existing_cluster_role(chart: Chart) -> None:
    """rbac.clusterRole=false (namespacedRoles false): no ClusterRole is created, the
    ClusterRoleBinding binds the existing one named rbac.clusterRoleName, the controller still
    watches every namespace (upstream's behaviour)."""
    values = {"rbac": {"clusterRole": False, "clusterRoleName": "corp-unsealer"}}
    docs = render(chart, values)
    assert not find(docs, "ClusterRole")
    crb = one(docs, "ClusterRoleBinding", FULLNAME)
    assert crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": "corp-unsealer"}
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]
    assert arg_value(container(docs)["args"], "--all-namespaces") is None
    assert not find(docs, "Role", "secrets-unsealer")
    # With namespacedRoles the namespaced mode wins, without a ClusterRoleBinding.
    docs = render(chart, {"rbac": {"clusterRole": False, "namespacedRoles": True}})
    assert not find(docs, "ClusterRoleBinding")
    one(docs, "Role", "secrets-unsealer", NAMESPACE)


def test_metrics_service_node_port_and_load_balancer_class(chart: Chart) -> None:
    svc = one(render(chart), "Service", f"{FULLNAME}-metrics")
    assert "loadBalancerClass" not in svc["spec"] and "nodePort" not in svc["spec"]["ports"][0]
    values = {"metrics": {"service": {"type": "LoadBalancer", "nodePort": 31081,
                                      "loadBalancerClass": "example.com/lb"}}}
    svc = one(render(chart, values), "Service", f"{FULLNAME}-metrics")
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["loadBalancerClass"] == "example.com/lb"
    assert svc["spec"]["ports"][0]["nodePort"] == 31081
    # nodePort only for NodePort/LoadBalancer, loadBalancerClass only for LoadBalancer.
    values = {"metrics": {"service": {"type": "NodePort", "nodePort": "31081",
                                      "loadBalancerClass": "example.com/lb"}}}
    svc = one(render(chart, values), "Service", f"{FULLNAME}-metrics")
    assert svc["spec"]["ports"][0]["nodePort"] == 31081
    assert "loadBalancerClass" not in svc["spec"]
    values = {"metrics": {"service": {"nodePort": 31081}}}
    svc = one(render(chart, values), "Service", f"{FULLNAME}-metrics")
    assert "nodePort" not in svc["spec"]["ports"][0]


def test_host_ports(chart: Chart) -> None:
    ports = container(render(chart))["ports"]
    assert all("hostPort" not in p for p in ports)
    c = container(render(chart, {"hostPorts": {"http": 8080, "metrics": "8081"}}))
    assert {p["name"]: p.get("hostPort") for p in c["ports"]} == {"http": 8080, "metrics": 8081}
    c = container(render(chart, {"hostPorts": {"metrics": 18081}, "containerPorts": {"metrics": 18081}}))
    assert {p["name"]: p.get("hostPort") for p in c["ports"]} == {"http": None, "metrics": 18081}
    assert arg_value(c["args"], "--listen-metrics-addr") == ":18081"


def test_extra_deploy_maps_and_strings_through_tpl(chart: Chart) -> None:
    values = {"extraDeploy": [
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"sealed-secrets.fullname\" . }}-a\n"
        "  namespace: {{ .Release.Namespace }}\ndata:\n  k: v\n",
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "{{ .Release.Name }}-b", "namespace": NAMESPACE,
                      "labels": {"app.kubernetes.io/name": "sealed-secrets",
                                 "app.kubernetes.io/instance": RELEASE,
                                 "app.kubernetes.io/part-of": "sealed-secrets"}},
         "data": {"chart": "{{ .Chart.Name }}"}},
    ]}
    docs = render(chart, values)
    a = one(docs, "ConfigMap", f"{FULLNAME}-a", NAMESPACE)
    assert a["data"] == {"k": "v"}
    b = one(docs, "ConfigMap", f"{RELEASE}-b", NAMESPACE)
    assert b["data"] == {"chart": "sealed-secrets"}
    assert not find(render(chart), "ConfigMap")


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if v.get("definition")]
    return exprs


def dashboard_metric_names(dashboard: dict[str, Any]) -> set[str]:
    return {m for e in dashboard_exprs(dashboard)
            for m in re.findall(r"\b(sealed_secrets_controller_[a-z_]+)", e)}


def controller_metric_names() -> set[str]:
    """Names the controller exports, from controller/src/metrics.rs: the registry prefix plus each
    registered name, with the suffixes prometheus-client's text encoding adds."""
    src = (ROOT / "controller" / "src" / "metrics.rs").read_text()
    (prefix,) = re.findall(r'(?:Registry::with_prefix|sub_registry_with_prefix)\("([a-z_]+)"\)', src)
    names: set[str] = set()
    # `registry.register("name", "help", value)` and `registry.register_collector(described("name",
    # "help", value))` (upstream's help texts without the `.` the registry appends).
    pattern = r'registry\.register(?:_collector\(described)?\(\s*"([a-z_]+)",\s*"[^"]*",\s*([^\n]*)'
    for name, value in re.findall(pattern, src, re.S):
        full = f"{prefix}_{name}"
        field = re.search(r"m\.([a-z_]+)\.clone\(\)", value)
        kind = re.search(rf"pub {field.group(1)}: ([A-Za-z]+)", src).group(1) if field else "Family"
        if kind == "Counter" or (kind == "Family" and field and re.search(
                rf"pub {field.group(1)}: Family<[A-Za-z]+, Counter>", src)):
            names.add(f"{full}_total")
        elif "Histogram" in value or (field and re.search(rf"pub {field.group(1)}: Family<[A-Za-z]+, Histogram>", src)):
            names |= {f"{full}_bucket", f"{full}_sum", f"{full}_count"}
        else:
            names.add(full)
    return names


def test_dashboards_config_map(chart: Chart) -> None:
    assert not find(render(chart), "ConfigMap")
    values = {"metrics": {"dashboards": {"create": True, "labels": {"grafana_dashboard": "1"},
                                         "annotations": {"grafana_folder": "Security"}}}}
    docs = render(chart, values)
    cm = one(docs, "ConfigMap", f"{FULLNAME}-sealed-secrets-controller", NAMESPACE)
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Security"}
    assert list(cm["data"]) == ["sealed-secrets-controller.json"]
    dashboard = json.loads(cm["data"]["sealed-secrets-controller.json"])
    committed = json.loads((CHART_DIR / "dashboards" / "sealed-secrets-controller.json").read_text())
    assert dashboard == committed
    assert dashboard["panels"] and all(p.get("targets") for p in dashboard["panels"])
    cm = one(render(chart, {"metrics": {"dashboards": {"create": True, "namespace": "grafana"}}}), "ConfigMap")
    assert cm["metadata"]["namespace"] == "grafana"
    assert lint_problems(values) == []


def test_dashboard_queries_our_metric_names() -> None:
    """Every metric a panel queries is one the controller exports (upstream's names, plus our key
    inventory), so the dashboard cannot silently show nothing. The live scrape is checked by
    test_static_manifest.py against the running controller."""
    dashboard = json.loads((CHART_DIR / "dashboards" / "sealed-secrets-controller.json").read_text())
    used = dashboard_metric_names(dashboard)
    exported = controller_metric_names()
    assert {"sealed_secrets_controller_unseal_requests_total",
            "sealed_secrets_controller_unseal_errors_total",
            "sealed_secrets_controller_condition_info",
            "sealed_secrets_controller_http_requests_total",
            "sealed_secrets_controller_http_request_duration_seconds_bucket"} <= used
    assert used <= exported, sorted(used - exported)
    # A Prometheus-looking expression in every target, and the datasource is a variable.
    for p in dashboard["panels"]:
        for t in p["targets"]:
            assert t["expr"].count("(") == t["expr"].count(")"), t["expr"]
            assert t["datasource"]["uid"] == "${datasource}"


def test_psp(chart: Chart) -> None:
    assert not find(render(chart, {"kubeVersion": "1.20.2"}), "PodSecurityPolicy")
    values = {"kubeVersion": "1.20.2", "rbac": {"pspEnabled": True}}
    docs = render(chart, values)
    psp = one(docs, "PodSecurityPolicy", FULLNAME)
    assert psp["apiVersion"] == "policy/v1beta1"
    spec = psp["spec"]
    assert spec["privileged"] is False and spec["allowPrivilegeEscalation"] is False
    assert spec["runAsUser"] == {"rule": "MustRunAsNonRoot"}
    assert spec["hostNetwork"] is False and "hostPorts" not in spec
    # The chart's Pod fits it: fsGroup 65534, only emptyDir volumes.
    pod = one(docs, "Deployment", FULLNAME)["spec"]["template"]["spec"]
    fs = spec["fsGroup"]["ranges"][0]
    assert fs["min"] <= pod["securityContext"]["fsGroup"] <= fs["max"]
    assert all(set(v) - {"name"} <= set(spec["volumes"]) for v in pod["volumes"])
    role = one(docs, "ClusterRole", f"{FULLNAME}-psp")
    assert rules_grant(role["rules"], "policy", "podsecuritypolicies", "use", name=FULLNAME)
    binding = one(docs, "ClusterRoleBinding", f"{FULLNAME}-psp")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]
    assert lint_problems(values) == []
    psp = one(render(chart, {**values, "hostNetwork": True}), "PodSecurityPolicy")
    assert psp["spec"]["hostNetwork"] is True
    assert psp["spec"]["hostPorts"] == [{"min": 8080, "max": 8080}, {"min": 8081, "max": 8081}]
    with pytest.raises(Exception, match="PodSecurityPolicy was removed in Kubernetes 1.25"):
        render(chart, {"kubeVersion": "1.25.0", "rbac": {"pspEnabled": True}})
    assert not find(render(chart, {**values, "rbac": {"create": False, "pspEnabled": True}}),
                    "PodSecurityPolicy")


def test_global_kube_version_and_templated_common_metadata(chart: Chart) -> None:
    """global.kubeVersion (umbrella charts) wins over kubeVersion, as upstream's; commonLabels and
    commonAnnotations go through tpl, as upstream's."""
    docs = render(chart, {"global": {"kubeVersion": "1.20.2"}, "kubeVersion": "1.25.0",
                          "pdb": {"create": True}})
    assert one(docs, "PodDisruptionBudget")["apiVersion"] == "policy/v1beta1"
    docs = render(chart, {"commonLabels": {"example.com/release": "{{ .Release.Name }}"},
                          "commonAnnotations": {"example.com/ns": "{{ .Release.Namespace }}"}})
    for d in docs:
        assert d["metadata"]["labels"]["example.com/release"] == RELEASE, d["kind"]
        assert d["metadata"]["annotations"]["example.com/ns"] == NAMESPACE, d["kind"]


# --------------------------------------------------------------------------------------------------
# CRD, README, Dockerfile


def load_crd() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_FILE.read_text())
    assert isinstance(crd, dict), f"{CRD_FILE} is empty or not one YAML object (regenerate it)"
    return crd


def test_crd_kept_on_uninstall(chart: Chart) -> None:
    crds = chart.crds
    assert [c["filename"].split("/", 1)[-1] for c in crds] == ["crds/bitnami.com_sealedsecrets.yaml"]
    crd = load_crd()
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == "sealedsecrets.bitnami.com"
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # CRDs are never templated: nothing in templates/ renders one.
    assert not find(render(chart), "CustomResourceDefinition")


def test_readme_documents_every_value(chart: Chart) -> None:
    readme = (CHART_DIR / "README.md").read_text()

    def leaves(prefix: str, v: Any) -> list[str]:
        if isinstance(v, dict) and v:
            out: list[str] = []
            for k, sub in v.items():
                out += leaves(f"{prefix}.{k}" if prefix else k, sub)
            return out
        return [prefix]

    missing = []
    for key in leaves("", chart.values):
        # A documented parent (e.g. `resources`, `livenessProbe.*`) covers its children.
        parts = key.split(".")
        candidates = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        candidates |= {".".join(parts[:i]) + ".*" for i in range(1, len(parts))}
        if not any(f"`{c}`" in readme for c in candidates):
            missing.append(key)
    assert missing == []


def test_dockerfile_entrypoint() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/usr/local/bin/controller"]' in text
    assert "/usr/local/bin/kubeseal" in text
    assert re.search(r"^FROM .* AS build", text, re.M)
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert "target/" in ignore or "target" in ignore


# --------------------------------------------------------------------------------------------------
# Against a real kube-apiserver (KUBECONFIG)

LIVE_NS = "ssrs-chart-test"
# Cluster-scoped names differ from the defaults, so that the scratch install never touches objects
# that other tests on the same cluster may own (ClusterRole secrets-unsealer, ClusterRoleBinding
# sealed-secrets-controller). Namespaced objects keep their default names, in LIVE_NS.
LIVE_VALUES: dict[str, Any] = {
    "fullnameOverride": "ssrs-chart-test",
    "rbac": {"clusterRoleName": "ssrs-chart-test-unsealer"},
}

# kind -> (API path prefix, plural, namespaced)
RESOURCES = {
    "CustomResourceDefinition": ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "Namespace": ("/api/v1", "namespaces", False),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Service": ("/api/v1", "services", True),
    "Secret": ("/api/v1", "secrets", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    "Ingress": ("/apis/networking.k8s.io/v1", "ingresses", True),
}


class Kube:
    """Minimal client: bearer token or client certificate from a kubeconfig, stdlib only."""

    def __init__(self, kubeconfig: str) -> None:
        cfg = yaml.safe_load(Path(kubeconfig).read_text())
        ctx_name = cfg.get("current-context") or cfg["contexts"][0]["name"]
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        self.server = cluster["server"].rstrip("/")
        self.ssl = ssl.create_default_context()
        if "certificate-authority-data" in cluster:
            self.ssl.load_verify_locations(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        elif "certificate-authority" in cluster:
            self.ssl.load_verify_locations(cafile=cluster["certificate-authority"])
        self.headers: dict[str, str] = {}
        if user.get("token"):
            self.headers["Authorization"] = f"Bearer {user['token']}"
        self._tmp = tempfile.TemporaryDirectory()
        if user.get("client-certificate-data"):
            crt = Path(self._tmp.name, "c.crt")
            key = Path(self._tmp.name, "c.key")
            crt.write_bytes(base64.b64decode(user["client-certificate-data"]))
            key.write_bytes(base64.b64decode(user["client-key-data"]))
            self.ssl.load_cert_chain(crt, key)
        elif user.get("client-certificate"):
            self.ssl.load_cert_chain(user["client-certificate"], user["client-key"])

    def request(self, method: str, path: str, body: Any = None,
                content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self.headers, Accept="application/json")
        if data is not None:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.server + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self.ssl, timeout=30) as resp:
                raw = resp.read()
                try:
                    return resp.status, json.loads(raw) if raw else {}
                except ValueError:
                    return resp.status, {"body": raw.decode(errors="replace")}
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, {"message": raw.decode(errors="replace")}

    @staticmethod
    def path_of(obj: dict[str, Any], namespace: str | None = None) -> str:
        prefix, plural, namespaced = RESOURCES[obj["kind"]]
        assert obj["apiVersion"] in prefix or prefix.endswith("/" + obj["apiVersion"]), obj["apiVersion"]
        name = obj["metadata"]["name"]
        if namespaced:
            ns = namespace or obj["metadata"]["namespace"]
            return f"{prefix}/namespaces/{ns}/{plural}/{name}"
        return f"{prefix}/{plural}/{name}"

    def apply(self, obj: dict[str, Any], *, dry_run: bool) -> tuple[int, dict[str, Any]]:
        """Server-side apply (field manager ssrs-chart-test)."""
        query = {"fieldManager": "ssrs-chart-test", "force": "true"}
        if dry_run:
            query["dryRun"] = "All"
        return self.request("PATCH", f"{self.path_of(obj)}?{urllib.parse.urlencode(query)}", obj,
                            content_type="application/apply-patch+yaml")

    def can(self, user: str, groups: list[str], verb: str, resource: str, *, group: str = "",
            namespace: str = "", name: str = "", subresource: str = "") -> bool:
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": groups,
                "resourceAttributes": {
                    "verb": verb, "group": group, "resource": resource, "namespace": namespace,
                    "name": name, "subresource": subresource,
                },
            },
        }
        status, out = self.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
        assert status == 201, out
        return bool(out["status"].get("allowed"))


@pytest.fixture(scope="module")
def kube() -> Kube:
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        if os.environ.get("SSRS_REQUIRE_CLUSTER") == "1":
            pytest.fail("SSRS_REQUIRE_CLUSTER=1 but KUBECONFIG is not set")
        pytest.skip("KUBECONFIG not set: no cluster to apply the chart to")
    k = Kube(kubeconfig.split(os.pathsep)[0])
    status, out = k.request("GET", "/readyz")
    assert status == 200, f"kube-apiserver not ready: {status} {out}"
    return k


def server_version(kube: Kube) -> str:
    status, out = kube.request("GET", "/version")
    assert status == 200, out
    return out["gitVersion"]


def ensure_crd(kube: Kube) -> None:
    crd = load_crd()
    status, out = kube.apply(crd, dry_run=True)
    assert status in (200, 201), out
    status, out = kube.apply(crd, dry_run=False)
    assert status in (200, 201), out
    deadline = time.time() + 30
    while time.time() < deadline:
        _, cur = kube.request("GET", kube.path_of(crd))
        # A CRD just created can have `status.conditions: null`.
        conds = {c["type"]: c["status"]
                 for c in (cur.get("status") or {}).get("conditions") or []}
        if conds.get("Established") == "True":
            return
        time.sleep(0.5)
    pytest.fail("CRD sealedsecrets.bitnami.com not Established after 30 s")


def test_live_default_render_server_dry_run(chart: Chart, kube: Kube) -> None:
    """The exact default install (release sealed-secrets in kube-system) passes the apiserver's
    validation and admission; dry-run only, nothing is stored."""
    ensure_crd(kube)
    docs = render(chart)
    assert docs
    for obj in docs:
        status, out = kube.apply(obj, dry_run=True)
        assert status in (200, 201), (obj["kind"], obj["metadata"]["name"], out)
        assert out["metadata"]["name"] == obj["metadata"]["name"]


@pytest.fixture(scope="module")
def live_install(chart: Chart, kube: Kube):
    """Default values (cluster-scoped names made unique) applied for real into LIVE_NS; removed after."""
    ensure_crd(kube)
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LIVE_NS}}
    status, out = kube.apply(ns, dry_run=False)
    assert status in (200, 201), out
    docs = render(chart, LIVE_VALUES, namespace=LIVE_NS)
    for obj in docs:
        status, out = kube.apply(obj, dry_run=True)
        assert status in (200, 201), ("dry-run", obj["kind"], obj["metadata"]["name"], out)
    for obj in docs:
        status, out = kube.apply(obj, dry_run=False)
        assert status in (200, 201), ("apply", obj["kind"], obj["metadata"]["name"], out)
    yield docs
    for obj in docs:
        if not RESOURCES[obj["kind"]][2]:
            kube.request("DELETE", kube.path_of(obj))
    # Waited for: with a node and the image imported the Deployment's controller Pod really runs, and
    # must be gone before the next module starts a controller of its own.
    kube.request("DELETE", kube.path_of(ns))
    deadline = time.time() + 90
    while kube.request("GET", kube.path_of(ns))[0] != 404 and time.time() < deadline:
        time.sleep(0.5)


def test_live_objects_exist(kube: Kube, live_install: list[dict[str, Any]]) -> None:
    kinds = {d["kind"] for d in live_install}
    assert {"Deployment", "Service", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
            "RoleBinding"} <= kinds
    for obj in live_install:
        status, out = kube.request("GET", kube.path_of(obj))
        assert status == 200, (obj["kind"], obj["metadata"]["name"], out)
        assert out["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
    _, svc = kube.request("GET", f"/api/v1/namespaces/{LIVE_NS}/services/ssrs-chart-test")
    assert svc["spec"]["ports"][0]["name"] == "http"
    _, dep = kube.request("GET", f"/apis/apps/v1/namespaces/{LIVE_NS}/deployments/ssrs-chart-test")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["securityContext"]["runAsUser"] == 1001
    assert c["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_live_rbac_through_authorizer(kube: Kube, live_install: list[dict[str, Any]]) -> None:
    """The installed RBAC, evaluated by the real RBAC authorizer (SubjectAccessReview)."""
    sa = f"system:serviceaccount:{LIVE_NS}:ssrs-chart-test"
    sa_groups = ["system:serviceaccounts", f"system:serviceaccounts:{LIVE_NS}", "system:authenticated"]

    def can(verb: str, resource: str, **kw: Any) -> bool:
        return kube.can(sa, sa_groups, verb, resource, **kw)

    # Unsealing, cluster-wide.
    for verb in ("get", "list", "watch"):
        assert can(verb, "sealedsecrets", group="bitnami.com", namespace="default")
        assert can(verb, "sealedsecrets", group="bitnami.com")  # all namespaces
    assert can("update", "sealedsecrets", group="bitnami.com", namespace="default", subresource="status")
    assert not can("update", "sealedsecrets", group="bitnami.com", namespace="default")
    assert not can("delete", "sealedsecrets", group="bitnami.com", namespace="default")
    for verb in ("get", "list", "watch", "create", "update", "patch"):
        assert can(verb, "secrets", namespace="default")
    assert not can("delete", "secrets", namespace="default")  # only with --old-gc-behavior
    assert can("create", "events", namespace="default")
    assert can("create", "events", group="events.k8s.io", namespace="default")
    # Leader election: the Lease in the release namespace only.
    assert can("create", "leases", group="coordination.k8s.io", namespace=LIVE_NS)
    for verb in ("get", "update"):
        assert can(verb, "leases", group="coordination.k8s.io", namespace=LIVE_NS, name="ssrs-chart-test")
        assert not can(verb, "leases", group="coordination.k8s.io", namespace=LIVE_NS, name="other")
    assert not can("create", "leases", group="coordination.k8s.io", namespace="default")
    # Nothing else.
    assert not can("get", "namespaces", name="default")
    assert not can("list", "pods", namespace=LIVE_NS)
    assert not can("create", "clusterroles", group="rbac.authorization.k8s.io")
    # Service proxier: any authenticated user reaches the controller like kubeseal does.
    user, groups = "alice", ["system:authenticated"]
    assert kube.can(user, groups, "get", "services", namespace=LIVE_NS, name="ssrs-chart-test")
    for verb in ("get", "create"):
        assert kube.can(user, groups, verb, "services", namespace=LIVE_NS,
                        name="http:ssrs-chart-test:http", subresource="proxy")
    assert not kube.can(user, groups, "get", "services", namespace=LIVE_NS,
                        name="http:other:http", subresource="proxy")
    assert not kube.can(user, groups, "get", "secrets", namespace=LIVE_NS)


def test_live_feature_render_server_dry_run(chart: Chart, kube: Kube,
                                            live_install: list[dict[str, Any]]) -> None:
    """replicas 3 + PDB + Ingress + NetworkPolicy + additionalNamespaces, rendered for the server's
    real version (PDB policy/v1beta1 on 1.20), pass server-side dry-run. No ServiceMonitor: the
    monitoring.coreos.com CRDs are not installed on the test cluster."""
    version = server_version(kube)
    values = dict(LIVE_VALUES)
    values.update({
        "kubeVersion": version,
        "replicas": 3,
        "pdb": {"create": True},
        "ingress": {"enabled": True, "tls": True, "selfSigned": True},
        "networkPolicy": {"enabled": True, "egress": {"enabled": True, "kubeapiCidr": "10.0.0.1/32"}},
        "additionalNamespaces": ["default"],
    })
    docs = render(chart, values, namespace=LIVE_NS)
    pdb = one(docs, "PodDisruptionBudget")
    major_minor = tuple(int(x) for x in re.match(r"v?(\d+)\.(\d+)", version).groups())
    expected = "policy/v1" if major_minor >= (1, 21) else "policy/v1beta1"
    assert pdb["apiVersion"] == expected
    RESOURCES["PodDisruptionBudget"] = (f"/apis/{expected}", "poddisruptionbudgets", True)
    kinds = {d["kind"] for d in docs}
    assert {"PodDisruptionBudget", "Ingress", "NetworkPolicy", "Secret"} <= kinds
    for obj in docs:
        status, out = kube.apply(obj, dry_run=True)
        assert status in (200, 201), (obj["kind"], obj["metadata"]["name"], out)


# --------------------------------------------------------------------------------------------------
# An upstream-style values file (tests/chart/upstream-values.yaml): every upstream value non-default

UPSTREAM_VALUES_FILE = Path(__file__).with_name("upstream-values.yaml")
UP_RELEASE, UP_RELEASE_NS = "upstream", "default"
UP_NAME, UP_NS = "ssrs-upstream-values", "ssrs-upstream-values"
UP_MON_NS = "ssrs-upstream-values-monitoring"
UP_EXTRA_NS = "ssrs-upstream-values-extra"
UP_EXISTING_ROLE = "ssrs-upstream-existing-unsealer"

for kind, res in {
    "ConfigMap": ("/api/v1", "configmaps", True),
    "PodSecurityPolicy": ("/apis/policy/v1beta1", "podsecuritypolicies", False),
    "ServiceMonitor": ("/apis/monitoring.coreos.com/v1", "servicemonitors", True),
}.items():
    RESOURCES.setdefault(kind, res)


def upstream_values() -> dict[str, Any]:
    return yaml.safe_load(UPSTREAM_VALUES_FILE.read_text())


def render_upstream(chart: Chart, overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    values = upstream_values()

    def merge(base: dict[str, Any], over: dict[str, Any]) -> None:
        for k, v in over.items():
            if isinstance(v, dict) and isinstance(base.get(k), dict):
                merge(base[k], v)
            else:
                base[k] = v
    merge(values, overrides or {})
    return render(chart, values, name=UP_RELEASE, namespace=UP_RELEASE_NS)


def test_upstream_values_file_sets_every_upstream_value() -> None:
    """The file really is upstream-shaped: the names are upstream's (our renamed/new values are not
    used), and our chart knows every one of them (an unknown name would be silently ignored)."""
    values = upstream_values()
    ours_only = {"replicas", "leaderElection", "allNamespaces", "keyOrderPriority", "commandArgs",
                 "extraEnv", "topologySpreadConstraints", "updateStrategy",
                 "terminationGracePeriodSeconds", "automountServiceAccountToken", "namespaceOverride"}
    assert not ours_only & set(values)
    assert "namespace" in values  # upstream's name for namespaceOverride

    def leaves(prefix: str, v: Any) -> list[str]:
        if isinstance(v, dict) and v and not prefix.endswith(("annotations", "labels", "Labels",
                                                               "Annotations", "affinity", "nodeSelector",
                                                               "resources", "Probe")):
            return [x for k, sub in v.items() for x in leaves(f"{prefix}.{k}" if prefix else k, sub)]
        return [prefix]
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())

    def lookup(d: Any, key: str) -> Any:
        for part in key.split("."):
            if not isinstance(d, dict) or part not in d:
                return KeyError
            d = d[part]
        return d
    unknown = [k for k in leaves("", values) if k != "namespace" and lookup(defaults, k) is KeyError]
    assert unknown == []


def test_upstream_values_render(chart: Chart) -> None:
    docs = render_upstream(chart)
    by_kind: dict[str, list[str]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d["metadata"]["name"])
    # Upstream's `namespace` value moves every namespaced object (but the ServiceMonitor and the
    # dashboard, which have their own namespace values).
    for d in docs:
        md = d["metadata"]
        if d["kind"] in ("ClusterRole", "ClusterRoleBinding", "PodSecurityPolicy"):
            assert "namespace" not in md
        elif d["kind"] == "ServiceMonitor" or md["name"].endswith("-sealed-secrets-controller"):
            assert md["namespace"] == UP_MON_NS, (d["kind"], md["name"])
        else:
            assert md["namespace"] == UP_NS, (d["kind"], md["name"])
        if d["kind"] != "ConfigMap" or "-extra-" not in md["name"]:
            # nameOverride, and commonLabels/commonAnnotations rendered through tpl.
            assert md["labels"]["app.kubernetes.io/name"] == "ssrs-upstream", (d["kind"], md["name"])
            assert md["labels"]["example.com/release"] == UP_RELEASE, (d["kind"], md["name"])
    for d in docs:
        if d["kind"] not in ("Secret",) and "-extra-" not in d["metadata"]["name"]:
            assert d["metadata"]["annotations"]["example.com/owner"] == "upstream-team", d["kind"]
    # extraDeploy: a string and a map, both through tpl.
    extra = one(docs, "ConfigMap", f"{UP_NAME}-extra-string", UP_NS)
    assert extra["data"] == {"release": UP_RELEASE}
    assert one(docs, "ConfigMap", f"{UP_NAME}-extra-map", UP_NS)["data"] == {"chart": "sealed-secrets"}

    dep = one(docs, "Deployment", UP_NAME, UP_NS)
    assert dep["spec"]["revisionHistoryLimit"] == 3
    pod = dep["spec"]["template"]
    assert pod["metadata"]["labels"]["example.com/pod"] == "yes"
    assert pod["metadata"]["annotations"] == {"example.com/scrape": "true"}
    ps = pod["spec"]
    assert ps["serviceAccountName"] == "ssrs-upstream-controller"
    assert ps["imagePullSecrets"] == [{"name": "regcred"}]
    assert ps["priorityClassName"] == "ssrs-upstream-priority"
    assert ps["runtimeClassName"] == "ssrs-upstream-runtime"
    assert ps["affinity"]["nodeAffinity"]
    assert ps["nodeSelector"] == {"example.com/pool": "security"}
    assert ps["tolerations"][0]["key"] == "example.com/dedicated"
    assert ps["hostNetwork"] is True and ps["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert ps["securityContext"]["fsGroup"] == 1002
    assert {"name": "extra", "emptyDir": {}} in ps["volumes"]
    (c,) = ps["containers"]
    assert c["image"] == "registry.example.invalid/acme/sealed-secrets-rs:9.9.9"
    assert c["imagePullPolicy"] == "Always"
    assert c["command"] == ["/usr/local/bin/controller"]
    assert {"name": "extra", "mountPath": "/extra"} in c["volumeMounts"]
    assert c["resources"] == {"limits": {"memory": "256Mi"}, "requests": {"cpu": "50m", "memory": "64Mi"}}
    assert c["securityContext"]["runAsUser"] == 1002
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL", "NET_RAW"]}
    assert {p["name"]: (p["containerPort"], p.get("hostPort")) for p in c["ports"]} == {
        "http": (9080, 9080), "metrics": (9081, 9081)}
    assert c["livenessProbe"] == {"tcpSocket": {"port": "http"}, "periodSeconds": 21}
    assert c["readinessProbe"] == {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 22}
    assert c["startupProbe"]["periodSeconds"] == 13 and c["startupProbe"]["failureThreshold"] == 30
    args = c["args"]
    expected = {
        "--listen-addr": ":9080", "--listen-metrics-addr": ":9081", "--key-prefix": "acme-sealing-key",
        "--update-status": "false", "--skip-recreate": "", "--key-renew-period": "0",
        "--key-ttl": "8760h", "--key-cutoff-time": "Mon, 02 Jan 2006 15:04:05 -0700",
        "--rate-limit": "5", "--rate-limit-burst": "7", "--additional-namespaces": UP_EXTRA_NS,
        "--privatekey-annotations": "example.com/backup=daily",
        "--privatekey-labels": "example.com/tier=keys", "--log-info-stdout": "",
        "--log-level": "DEBUG", "--log-format": "json", "--max-unseal-retries": "3",
        "--watch-for-secrets": "", "--kubeclient-qps": "20", "--kubeclient-burst": "40",
    }
    assert {f: arg_value(args, f) for f in expected} == expected

    svc = one(docs, "Service", UP_NAME, UP_NS)
    assert svc["spec"]["type"] == "LoadBalancer" and svc["spec"]["loadBalancerClass"] == "example.com/lb"
    assert svc["spec"]["ports"][0] == {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP",
                                       "nodePort": 31780}
    assert svc["metadata"]["annotations"]["example.com/service"] == UP_RELEASE
    msvc = one(docs, "Service", f"{UP_NAME}-metrics", UP_NS)
    assert msvc["spec"]["type"] == "LoadBalancer" and msvc["spec"]["loadBalancerClass"] == "example.com/lb"
    assert msvc["spec"]["ports"][0]["port"] == 9091 and msvc["spec"]["ports"][0]["nodePort"] == 31781
    assert msvc["metadata"]["annotations"]["prometheus.io/scrape"] == "true"

    ing = one(docs, "Ingress", UP_NAME, UP_NS)
    assert ing["apiVersion"] == "networking.k8s.io/v1"
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["metadata"]["annotations"]["example.com/ingress"] == "yes"
    hosts = [r["host"] for r in ing["spec"]["rules"]]
    assert hosts == ["sealed-secrets.example.invalid", "certs.example.invalid"]
    paths = ing["spec"]["rules"][0]["http"]["paths"]
    assert [p["path"] for p in paths] == ["/extra", "/v1/cert.pem"]
    assert paths[1]["pathType"] == "Prefix"
    assert ing["spec"]["tls"] == [
        {"hosts": ["sealed-secrets.example.invalid"], "secretName": "sealed-secrets.example.invalid-tls"},
        {"hosts": ["certs.example.invalid"], "secretName": "certs.example.invalid-tls"}]
    tls = one(docs, "Secret", "sealed-secrets.example.invalid-tls", UP_NS)  # ingress.secrets wins over selfSigned
    assert base64.b64decode(tls["data"]["tls.crt"]).startswith(b"-----BEGIN CERTIFICATE-----\nnot-a-real")
    np_ = one(docs, "NetworkPolicy", UP_NAME, UP_NS)
    assert np_["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}],
                                      "ports": [{"port": 6443, "protocol": "TCP"}]}]
    sa = one(docs, "ServiceAccount", "ssrs-upstream-controller", UP_NS)
    assert sa["metadata"]["annotations"]["example.com/identity"] == "controller"
    assert sa["metadata"]["labels"]["example.com/sa"] == "yes"

    # rbac.clusterRole=false: the existing ClusterRole is bound, not created.
    assert by_kind["ClusterRole"] == [f"{UP_NAME}-psp"]
    crb = one(docs, "ClusterRoleBinding", UP_NAME)
    assert crb["roleRef"]["name"] == UP_EXISTING_ROLE
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": "ssrs-upstream-controller",
                                "namespace": UP_NS}]
    for d in docs:
        if d["kind"] in ("ClusterRoleBinding", "Role", "RoleBinding", "ClusterRole", "PodSecurityPolicy"):
            assert d["metadata"]["labels"]["example.com/rbac"] == "yes", (d["kind"], d["metadata"]["name"])
    one(docs, "PodSecurityPolicy", UP_NAME)
    rb = one(docs, "RoleBinding", f"{UP_NAME}-service-proxier", UP_NS)
    assert rb["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                               "name": "upstream-sealers"}]

    sm = one(docs, "ServiceMonitor", UP_NAME, UP_MON_NS)
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    assert sm["metadata"]["annotations"]["example.com/sm"] == "yes"
    ep = sm["spec"]["endpoints"][0]
    assert (ep["interval"], ep["scrapeTimeout"], ep["honorLabels"]) == ("30s", "10s", False)
    assert ep["metricRelabelings"][0]["regex"] == "go_.*"
    assert ep["relabelings"][0]["targetLabel"] == "team"
    assert sm["spec"]["namespaceSelector"] == {"matchNames": [UP_NS]}
    cm = one(docs, "ConfigMap", f"{UP_NAME}-sealed-secrets-controller", UP_MON_NS)
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"]["grafana_folder"] == "Security"
    pdb = one(docs, "PodDisruptionBudget", UP_NAME, UP_NS)
    assert pdb["apiVersion"] == "policy/v1beta1"  # kubeVersion 1.20.2
    assert pdb["spec"]["minAvailable"] == 0 and "maxUnavailable" not in pdb["spec"]

    values = upstream_values()
    report = lint(CHART_DIR, values=values, strict=True, namespace=UP_RELEASE_NS, kube_version="v1.20.2")
    assert [m for m in report.get("messages") or [] if m.get("severity", 0) >= 2] == []
    assert not report.get("errors")


def test_upstream_values_overrides(chart: Chart) -> None:
    """The upstream values that cannot be non-default in the one file, each flipped on it."""
    docs = render_upstream(chart, {"createController": False})
    assert not find(docs, "Deployment") and not find(docs, "Service") and not find(docs, "Ingress")
    one(docs, "ClusterRoleBinding", UP_NAME)
    c = one(render_upstream(chart, {"args": ["--key-prefix", "{{ .Release.Name }}-key"]}),
            "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert c["args"] == ["--key-prefix", "upstream-key"]
    # command and the custom probes go through tpl, as upstream's.
    c = one(render_upstream(chart, {"command": ["/bin/{{ .Chart.Name }}"],
                                    "customLivenessProbe": {"httpGet": {"path": "/{{ .Release.Name }}", "port": "http"}}}),
            "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["/bin/sealed-secrets"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/upstream", "port": "http"}
    docs = render_upstream(chart, {"rbac": {"create": False}, "serviceAccount": {"create": False}})
    assert not {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "PodSecurityPolicy",
                "ServiceAccount"} & {d["kind"] for d in docs}
    assert one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ssrs-upstream-controller"
    docs = render_upstream(chart, {"rbac": {"namespacedRoles": True, "namespacedRolesName": "team-unsealer"}})
    assert {d["metadata"]["namespace"] for d in find(docs, "Role", "team-unsealer")} == {UP_NS, UP_EXTRA_NS}
    assert not find(docs, "ClusterRoleBinding", UP_NAME)
    for proxier in ({"create": False}, {"bind": False}):
        docs = render_upstream(chart, {"rbac": {"serviceProxier": proxier}})
        assert not find(docs, "RoleBinding", f"{UP_NAME}-service-proxier")
    c = one(render_upstream(chart, {"podSecurityContext": {"enabled": False},
                                    "containerSecurityContext": {"enabled": False},
                                    "startupProbe": {"enabled": False},
                                    "customStartupProbe": {"exec": {"command": ["true"]}}}),
            "Deployment")["spec"]["template"]["spec"]
    assert "securityContext" not in c and "securityContext" not in c["containers"][0]
    assert c["containers"][0]["startupProbe"] == {"exec": {"command": ["true"]}}


def test_live_upstream_values_applied(chart: Chart, kube: Kube) -> None:
    """Everything the upstream-style values file renders, applied for real (not a dry run): the
    existing ClusterRole it binds is created first, and a stand-in ServiceMonitor CRD (schema-less)
    when the Prometheus Operator's is not installed. Then the real RBAC authorizer is asked what the
    bindings grant. On a server without Service.spec.loadBalancerClass (< 1.21) that one field is
    rendered empty: the API would refuse it as unknown."""
    ensure_crd(kube)
    version = server_version(kube)
    major_minor = tuple(int(x) for x in re.match(r"v?(\d+)\.(\d+)", version).groups())
    overrides: dict[str, Any] = {"kubeVersion": version}
    if major_minor < (1, 21):
        overrides["service"] = {"loadBalancerClass": ""}
        overrides["metrics"] = {"service": {"loadBalancerClass": ""}}
    docs = render_upstream(chart, overrides)
    pdb_version = one(docs, "PodDisruptionBudget")["apiVersion"]
    RESOURCES["PodDisruptionBudget"] = (f"/apis/{pdb_version}", "poddisruptionbudgets", True)
    created: list[str] = []
    namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
                  for n in (UP_NS, UP_MON_NS, UP_EXTRA_NS)]
    existing_role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                     "metadata": {"name": UP_EXISTING_ROLE},
                     "rules": one(render(chart), "ClusterRole", "secrets-unsealer")["rules"]}
    sm_crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/servicemonitors.monitoring.coreos.com"
    sm_crd = None
    if kube.request("GET", sm_crd_path)[0] == 404:
        sm_crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                  "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
                  "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
                           "names": {"plural": "servicemonitors", "singular": "servicemonitor",
                                     "kind": "ServiceMonitor", "listKind": "ServiceMonitorList"},
                           "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                               "openAPIV3Schema": {"type": "object",
                                                   "x-kubernetes-preserve-unknown-fields": True}}}]}}
    try:
        for obj in [*namespaces, existing_role] + ([sm_crd] if sm_crd else []):
            status, out = kube.apply(obj, dry_run=False)
            assert status in (200, 201), out
            created.append(kube.path_of(obj))
        if sm_crd:
            deadline = time.time() + 30
            while kube.request("GET", f"/apis/monitoring.coreos.com/v1/namespaces/{UP_MON_NS}/servicemonitors")[0] != 200:
                assert time.time() < deadline, "stand-in ServiceMonitor CRD not served"
                time.sleep(0.5)
        from node import helm_sorted
        for obj in helm_sorted(docs):
            status, out = kube.apply(obj, dry_run=False)
            assert status in (200, 201), ("apply", obj["kind"], obj["metadata"]["name"], out)
            if not RESOURCES[obj["kind"]][2]:
                created.append(kube.path_of(obj))
        for obj in docs:
            status, out = kube.request("GET", kube.path_of(obj))
            assert status == 200, (obj["kind"], obj["metadata"]["name"], out)
        _, svc = kube.request("GET", f"/api/v1/namespaces/{UP_NS}/services/{UP_NAME}")
        assert svc["spec"]["type"] == "LoadBalancer" and svc["spec"]["ports"][0]["nodePort"] == 31780
        _, msvc = kube.request("GET", f"/api/v1/namespaces/{UP_NS}/services/{UP_NAME}-metrics")
        assert msvc["spec"]["ports"][0]["nodePort"] == 31781
        if major_minor >= (1, 21):
            assert msvc["spec"]["loadBalancerClass"] == "example.com/lb"
        _, dep = kube.request("GET", f"/apis/apps/v1/namespaces/{UP_NS}/deployments/{UP_NAME}")
        ports = dep["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert {p["name"]: p.get("hostPort") for p in ports} == {"http": 9080, "metrics": 9081}

        sa = f"system:serviceaccount:{UP_NS}:ssrs-upstream-controller"
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{UP_NS}", "system:authenticated"]
        deadline = time.time() + 10  # the RBAC authorizer's informer catches up asynchronously
        while not kube.can(sa, groups, "watch", "sealedsecrets", group="bitnami.com") and time.time() < deadline:
            time.sleep(0.5)
        # The existing ClusterRole, through the chart's binding.
        assert kube.can(sa, groups, "watch", "sealedsecrets", group="bitnami.com")
        assert kube.can(sa, groups, "create", "secrets", namespace="default")
        assert kube.can(sa, groups, "use", "podsecuritypolicies", group="policy", name=UP_NAME)
        assert kube.can(sa, groups, "create", "secrets", namespace=UP_NS)  # key-admin Role
        # The string subjects of the service proxier.
        sealer, sealer_groups = "bob", ["upstream-sealers", "system:authenticated"]
        for verb in ("get", "create"):
            assert kube.can(sealer, sealer_groups, verb, "services", namespace=UP_NS,
                            name=f"http:{UP_NAME}:http", subresource="proxy")
        assert not kube.can("eve", ["system:authenticated"], "get", "services", namespace=UP_NS,
                            name=f"http:{UP_NAME}:http", subresource="proxy")
    finally:
        for path in reversed(created):
            kube.request("DELETE", path)
        deadline = time.time() + 90  # a re-run must not meet a Terminating namespace
        while time.time() < deadline and any(
                kube.request("GET", kube.path_of(ns))[0] != 404 for ns in namespaces):
            time.sleep(0.5)
