"""The controller's /metrics and logs read by what reads upstream's.

A real controller binary (host process, the admin kubeconfig, scoped to a scratch namespace)
against a real kube-apiserver (KUBECONFIG, e.g. tests/cluster/cluster.sh up) generates a key,
unseals a SealedSecret, skips a malformed key Secret (a WARN) and answers cert.pem and verify
requests. Then:

- /metrics is parsed with PyPI prometheus-client's text parser (`text_string_to_metric_families`),
  with no Accept header and with the one Prometheus sends: every metric upstream exports has its
  name, type and label names; `method` is lower-case; the request histogram has Prometheus'
  default buckets; the process_* values agree with /proc of the controller (its RLIMIT_NOFILE is
  set here, so process_max_fds must say exactly that); promhttp's scrape counter counts scrapes.
  upstream's promhttp.Handler() never answers OpenMetrics (EnableOpenMetrics is off), so a scraper
  asking for OpenMetrics gets the text format, which the OpenMetrics parser then refuses.
- Every line of stdout and stderr parses in the chosen format: `--log-format json` one JSON
  object per line, keys time, level, msg first (time RFC 3339 with sub-seconds, level upper case);
  the default text format slog's `time=… level=… msg=… key=value` with Go quoting; INFO on
  stdout, WARN/ERROR on stderr; `--log-level=WARN --log-info-stdout=false` only WARN and above,
  all on stderr. The plaintext of the sealed Secret appears in no line.

Without KUBECONFIG these tests skip, or fail when SSRS_REQUIRE_CLUSTER=1. The binaries come from
`cargo build --workspace --bins`; SSRS_CONTROLLER_BIN / SSRS_KUBESEAL_BIN override the paths.
"""

from __future__ import annotations

import ast
import base64
import datetime
import json
import os
import re
import resource
import secrets
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from test_chart import Kube, ensure_crd, kube  # noqa: F401  (kube is a fixture)
from test_chart_controller import binary

SUFFIX = secrets.token_hex(3)
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
PLAINTEXT = f"pl41ntext-{SUFFIX}"
NOFILE = 4000  # the controller's soft RLIMIT_NOFILE: process_max_fds must report exactly this
TIMEOUT = 90.0
# Prometheus' DefBuckets, spelled as Go writes `le`.
DEF_BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
                     "application/openmetrics-text;version=0.0.1;q=0.5,"
                     "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
                     "text/plain;version=0.0.4;q=0.3,*/*;q=0.2")

# slog's text handler: `key=value` pairs, a value bare or a Go-quoted string.
TEXT_PAIR = re.compile(r'([^ ="]+)=("(?:[^"\\]|\\.)*"|[^ "]*)(?: |$)')
RFC3339_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$")
RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")


def parse_text_line(line: str) -> list[tuple[str, str]]:
    """`time=… level=INFO msg="…" k=v` as slog writes it; fails on anything else."""
    pairs, pos = [], 0
    while pos < len(line):
        m = TEXT_PAIR.match(line, pos)
        assert m, f"not slog text at column {pos}: {line!r}"
        key, value = m.group(1), m.group(2)
        if value.startswith('"'):
            value = ast.literal_eval(value)  # Go's strconv.Quote escapes are Python's too
        pairs.append((key, value))
        pos = m.end()
    return pairs


def parse_log(text: str, fmt: str) -> list[dict[str, Any]]:
    """Every line of `text` as an ordered record; asserts upstream's first three keys."""
    records = []
    for line in text.splitlines():
        if fmt == "json":
            rec = json.loads(line)
            assert isinstance(rec, dict), line
            keys = list(rec)  # json keeps the line's order
            assert RFC3339_NANO.match(rec["time"]), line
        else:
            pairs = parse_text_line(line)
            keys = [k for k, _ in pairs]
            rec = dict(pairs)
            assert RFC3339_MILLIS.match(rec["time"]), line
        assert keys[:3] == ["time", "level", "msg"], line
        stamp = re.sub(r"(\.\d{6})\d+", r"\1", rec["time"]).replace("Z", "+00:00")
        when = datetime.datetime.fromisoformat(stamp)
        assert abs(time.time() - when.timestamp()) < 3600, line
        assert rec["level"] in ("DEBUG", "INFO", "WARN", "ERROR"), line
        records.append(rec)
    return records


class Controller:
    def __init__(self, ns: str, fmt: str, extra: list[str], tmp: Path) -> None:
        self.fmt = fmt
        self.out, self.err = tmp / "stdout.log", tmp / "stderr.log"
        self.argv = [str(binary("SSRS_CONTROLLER_BIN", "controller")),
                     "--all-namespaces=false", "--key-size=2048",
                     "--listen-addr=127.0.0.1:0", "--listen-metrics-addr=127.0.0.1:0",
                     "--kubeconfig", os.environ["KUBECONFIG"].split(os.pathsep)[0],
                     *(["--log-format", fmt] if fmt != "text" else []), *extra]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SEALED_SECRETS_", "KUBERNETES_")) and k != "KUBECONFIG"}
        env["POD_NAMESPACE"] = ns

        def limits() -> None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, hard))

        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(self.argv, env=env, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=tempfile.gettempdir(),
                                         preexec_fn=limits)

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def logs(self) -> str:
        return f"$ {' '.join(self.argv)}\n--- stdout ---\n{self.stdout()[-8000:]}\n" \
               f"--- stderr ---\n{self.stderr()[-8000:]}"

    def addr(self, server: str) -> str | None:
        for rec in parse_log(self.stdout(), self.fmt):
            if rec["msg"] == "server listening" and rec.get("server") == server:
                return rec["addr"]
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def wait_for(what: str, probe: Callable[[], Any], ctl: Controller, timeout: float = TIMEOUT) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ctl.proc.poll() is not None:
            pytest.fail(f"controller exited {ctl.proc.returncode} waiting for {what}\n{ctl.logs()}")
        got = probe()
        if got:
            return got
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{ctl.logs()}")


def http(method: str, url: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    try:
        with direct.open(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def namespace(kube: Kube, prefix: str) -> str:  # noqa: F811
    name = f"{prefix}-{SUFFIX}"
    status, out = kube.request("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert status == 201, out
    return name


def exercise(kube: Kube, ns: str, ctl: Controller, tmp: Path) -> None:  # noqa: F811
    """Key, a malformed key Secret, one unsealed SealedSecret, cert.pem and verify requests."""
    sel = urllib.parse.quote(f"{KEY_LABEL}=active")

    def key() -> dict[str, Any] | None:
        status, out = kube.request("GET", f"/api/v1/namespaces/{ns}/secrets?labelSelector={sel}")
        return out["items"][0] if status == 200 and out["items"] else None

    active = wait_for("an active key", key, ctl)
    status, out = kube.request("POST", f"/api/v1/namespaces/{ns}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "broken-key", "labels": {KEY_LABEL: "active"}},
        "data": {"tls.crt": base64.b64encode(b"not a cert").decode(),
                 "tls.key": base64.b64encode(b"not a key").decode()}})
    assert status == 201, out
    cert = tmp / "cert.pem"
    cert.write_bytes(base64.b64decode(active["data"]["tls.crt"]))
    plain = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": ns},
             "stringData": {"password": PLAINTEXT}}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEALED_SECRETS_")}
    env.pop("KUBECONFIG", None)
    res = subprocess.run([str(binary("SSRS_KUBESEAL_BIN", "kubeseal")), "--cert", str(cert)],
                         input=yaml.safe_dump(plain).encode(), capture_output=True, env=env,
                         timeout=60)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    sealed = json.loads(res.stdout)
    status, out = kube.request("POST", f"/apis/bitnami.com/v1alpha1/namespaces/{ns}/sealedsecrets",
                               sealed)
    assert status == 201, out
    wait_for("the Secret unsealed",
             lambda: kube.request("GET", f"/api/v1/namespaces/{ns}/secrets/db")[0] == 200, ctl)
    base = f"http://{wait_for('the http address', lambda: ctl.addr('http'), ctl)}"
    for _ in range(2):
        status, _, body = http("GET", f"{base}/v1/cert.pem")
        assert status == 200 and body.startswith(b"-----BEGIN CERTIFICATE-----")
    status, _, _ = http("POST", f"{base}/v1/verify", b"not a sealed secret")
    assert status == 400
    status, _, _ = http("POST", f"{base}/v1/verify", json.dumps(sealed).encode())
    assert status == 200


@pytest.fixture(scope="module")
def runs(kube: Kube, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """One controller per format, each in its own namespace, exercised then scraped and stopped."""
    ensure_crd(kube)
    made: list[str] = []
    ctls: dict[str, Controller] = {}
    scrapes: dict[str, list[tuple[dict[str, str], str]]] = {}
    procs: dict[str, dict[str, Any]] = {}
    try:
        for fmt, extra in (("json", ["--log-level=DEBUG"]), ("text", [])):
            ns = namespace(kube, f"ssrs-obs-{fmt}")
            made.append(ns)
            tmp = tmp_path_factory.mktemp(f"ctl-{fmt}")
            ctl = ctls[fmt] = Controller(ns, fmt, extra, tmp)
            exercise(kube, ns, ctl, tmp)
            wait_for("the malformed key's warning",
                     lambda: "skipping malformed sealing key Secret" in ctl.stderr(), ctl)
            maddr = wait_for("the metrics address", lambda: ctl.addr("metrics"), ctl)
            # The Secret exists before the controller has written the status and set the
            # condition series (the scrape of a clean-clone CI run once came in between).
            waited: list[int] = []

            def condition_series() -> bool:
                waited.append(1)
                return b"sealed_secrets_controller_condition_info{" in \
                    http("GET", f"http://{maddr}/metrics")[2]
            wait_for("the condition series", condition_series, ctl)
            scrapes[fmt] = []
            for accept in ("", PROMETHEUS_ACCEPT, "application/openmetrics-text; version=1.0.0"):
                headers = {"Accept": accept} if accept else {}
                status, hdrs, body = http("GET", f"http://{maddr}/metrics", headers=headers)
                assert status == 200, body
                scrapes[fmt].append((hdrs, body.decode()))
            pid = ctl.proc.pid
            procs[fmt] = {
                "stat": Path(f"/proc/{pid}/stat").read_text(),
                "status": Path(f"/proc/{pid}/status").read_text(),
                "limits": Path(f"/proc/{pid}/limits").read_text(),
                "fds": len(os.listdir(f"/proc/{pid}/fd")),
                "ns": ns,
                "waited": len(waited),  # scrapes before the three kept ones
            }
            ctl.stop()
        # --log-level=WARN, everything on stderr, against the text run's namespace (its key
        # exists; the malformed one warns again).
        tmp = tmp_path_factory.mktemp("ctl-warn")
        ctl = ctls["warn"] = Controller(procs["text"]["ns"], "text",
                                        ["--log-level=WARN", "--log-info-stdout=false"], tmp)
        wait_for("the malformed key's warning",
                 lambda: "skipping malformed sealing key Secret" in ctl.stderr(), ctl)
        time.sleep(2)  # let it log whatever else it would
        ctl.stop()
        yield ctls, scrapes, procs
    finally:
        for ctl in ctls.values():
            ctl.stop()
        for ns in made:
            kube.request("DELETE", f"/api/v1/namespaces/{ns}")


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


# Upstream's metrics: name (as the parser names the family) → type, label names.
UPSTREAM = {
    "sealed_secrets_controller_build_info": ("gauge", {"revision"}),
    "sealed_secrets_controller_unseal_requests": ("counter", set()),
    "sealed_secrets_controller_unseal_errors": ("counter", {"reason", "namespace"}),
    "sealed_secrets_controller_condition_info": (
        "gauge", {"namespace", "name", "condition", "ss_app_kubernetes_io_instance"}),
    "sealed_secrets_controller_http_requests": ("counter", {"path", "code", "method"}),
    "sealed_secrets_controller_http_request_duration_seconds": ("histogram", {"path", "method"}),
    "process_cpu_seconds": ("counter", set()),
    "process_open_fds": ("gauge", set()),
    "process_max_fds": ("gauge", set()),
    "process_virtual_memory_bytes": ("gauge", set()),
    "process_virtual_memory_max_bytes": ("gauge", set()),
    "process_resident_memory_bytes": ("gauge", set()),
    "process_start_time_seconds": ("gauge", set()),
    "process_network_receive_bytes": ("counter", set()),
    "process_network_transmit_bytes": ("counter", set()),
    "promhttp_metric_handler_requests": ("counter", {"code"}),
    "promhttp_metric_handler_requests_in_flight": ("gauge", set()),
}


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_metrics_parse_with_prometheus_text_parser(runs, fmt: str) -> None:
    _, scrapes, procs = runs
    for i, (headers, text) in enumerate(scrapes[fmt]):
        # What promhttp.Handler() sends, whatever the Accept header asked for.
        assert headers["content-type"] == \
            "text/plain; version=0.0.4; charset=utf-8; escaping=underscores", headers
        fams = families(text)
        for name, (kind, labels) in UPSTREAM.items():
            assert name in fams, f"{name} missing from scrape {i}:\n{text}"
            fam = fams[name]
            assert fam.type == kind, (name, fam.type)
            for s in fam.samples:
                assert set(s.labels) - {"le"} == labels, (name, s)
        assert not [n for n in fams if n.startswith("go_")], "no Go runtime metrics"
        scraped_before = {s.labels["code"]: s.value
                          for s in fams["promhttp_metric_handler_requests"].samples}
        assert scraped_before == {"200": float(i + procs[fmt]["waited"]), "500": 0.0,
                                  "503": 0.0}, scraped_before
        assert fams["promhttp_metric_handler_requests_in_flight"].samples[0].value == 1.0

    fams = families(scrapes[fmt][0][1])
    http_requests = {(s.labels["path"], s.labels["method"], s.labels["code"]): s.value
                     for s in fams["sealed_secrets_controller_http_requests"].samples}
    assert http_requests[("/v1/cert.pem", "get", "200")] == 2.0, http_requests
    assert http_requests[("/v1/verify", "post", "400")] == 1.0, http_requests
    assert http_requests[("/v1/verify", "post", "200")] == 1.0, http_requests
    assert {m for _, m, _ in http_requests} <= {"get", "post"}, http_requests
    buckets: dict[tuple[str, str], list[str]] = {}
    for s in fams["sealed_secrets_controller_http_request_duration_seconds"].samples:
        if s.name.endswith("_bucket"):
            buckets.setdefault((s.labels["path"], s.labels["method"]), []).append(s.labels["le"])
    assert ("/v1/cert.pem", "get") in buckets, buckets
    for series, les in buckets.items():
        assert les == DEF_BUCKETS, (series, les)
    conditions = [s for s in fams["sealed_secrets_controller_condition_info"].samples
                  if s.labels["name"] == "db"]
    assert [(c.labels["condition"], c.value) for c in conditions] == [("Synced", 1.0)], conditions
    assert fams["sealed_secrets_controller_unseal_requests"].samples[0].value >= 1.0

    # The process metrics describe the controller process, as /proc says (read right after).
    proc = procs[fmt]
    value = {n: fams[n].samples[0].value for n in UPSTREAM if n.startswith("process_")}
    assert value["process_max_fds"] == NOFILE, value
    assert 3 <= value["process_open_fds"] <= proc["fds"] + 16, (value, proc["fds"])
    fields = proc["stat"].rsplit(")", 1)[1].split()
    btime = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                 if line.startswith("btime "))
    start = btime + int(fields[22 - 3]) / os.sysconf("SC_CLK_TCK")
    assert abs(value["process_start_time_seconds"] - start) < 0.02, (value, start)
    assert 0 < value["process_cpu_seconds"] <= (int(fields[14 - 3]) + int(fields[15 - 3])) / \
        os.sysconf("SC_CLK_TCK") + 0.01, value
    rss = int(re.search(r"VmRSS:\s+(\d+) kB", proc["status"]).group(1)) * 1024
    assert 0.5 * rss < value["process_resident_memory_bytes"] < 2 * rss, (value, rss)
    assert value["process_virtual_memory_bytes"] >= value["process_resident_memory_bytes"]
    soft_as = re.search(r"Max address space\s+(\S+)", proc["limits"]).group(1)
    assert value["process_virtual_memory_max_bytes"] == \
        (float(2**64 - 1) if soft_as == "unlimited" else float(soft_as)), value
    # A scraper that insists on OpenMetrics gets what upstream gives it: the text format, which
    # the OpenMetrics parser refuses (no `# EOF`).
    with pytest.raises(ValueError):
        list(openmetrics_families(scrapes[fmt][2][1]))


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_every_log_line_parses_in_its_format(runs, fmt: str) -> None:
    ctls, _, _ = runs
    ctl = ctls[fmt]
    out, err = parse_log(ctl.stdout(), fmt), parse_log(ctl.stderr(), fmt)
    assert out and err, ctl.logs()
    # --log-info-stdout (the default): INFO and below on stdout, WARN and ERROR on stderr.
    assert {r["level"] for r in out} <= {"DEBUG", "INFO"}, ctl.logs()
    assert {r["level"] for r in err} <= {"WARN", "ERROR"}, ctl.logs()
    if fmt == "json":
        assert "DEBUG" in {r["level"] for r in out}, "--log-level=DEBUG"
    else:
        assert "DEBUG" not in {r["level"] for r in out}, "the default level is INFO"
    msgs = {r["msg"]: r for r in out + err}
    start = msgs["Starting sealed-secrets controller"]
    assert start["version"] and start["namespace"].startswith("ssrs-obs-"), start
    assert msgs["New key written"]["level"] == "INFO"
    assert msgs["skipping malformed sealing key Secret"]["level"] == "WARN"
    assert msgs["skipping malformed sealing key Secret"]["secret"] == "broken-key"
    assert any(r["msg"] == "server listening" and r["server"] == "metrics" for r in out)
    assert msgs["Updating"]["name"] == "db"
    # The plaintext, in clear or base64, is in no line.
    everything = ctl.stdout() + ctl.stderr()
    assert PLAINTEXT not in everything
    assert base64.b64encode(PLAINTEXT.encode()).decode() not in everything


def test_log_level_warn_and_everything_on_stderr(runs) -> None:
    ctls, _, _ = runs
    ctl = ctls["warn"]
    assert ctl.stdout() == "", ctl.logs()
    err = parse_log(ctl.stderr(), "text")
    assert err, ctl.logs()
    assert {r["level"] for r in err} <= {"WARN", "ERROR"}, ctl.logs()
    assert any(r["msg"] == "skipping malformed sealing key Secret" for r in err), ctl.logs()
