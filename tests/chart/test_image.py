"""The images tests/image/build.sh writes (no registry, no container engine) against the Dockerfile.

The Dockerfile's final stage is parsed (COPY destinations, USER, EXPOSE, ENTRYPOINT) and compared
with the controller image's layer and config: the same files (the copied binaries, byte for byte the
release build's, plus exactly the runtime the base image provides for them: the shared libraries ldd
lists, passwd/group, the CA bundle), no shell, a non-root UID, the same entrypoint and ports, under
the name the chart's default values give once the CRI has normalised it. The chart's securityContext
(read-only root filesystem, the image's UID) is checked against the image too.

Needs the release binaries: build.sh runs `cargo build --release --locked` (a no-op after
tests/run.sh's release step).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import re
import shlex
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from test_chart import ROOT, chart, container, render  # noqa: F401  (chart is a fixture)

DOCKERFILE = ROOT / "Dockerfile"
BUILD = ROOT / "tests" / "image" / "build.sh"


def load_mkoci():
    spec = importlib.util.spec_from_file_location("mkoci", ROOT / "tests" / "image" / "mkoci.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def final_stage(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile's last stage, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    instrs = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        instrs.append((word.upper(), rest.strip()))
    last_from = max(i for i, (w, _) in enumerate(instrs) if w == "FROM")
    return instrs[last_from + 1:]


def dockerfile_expectations() -> dict[str, Any]:
    stage = final_stage(DOCKERFILE.read_text())
    copies: dict[str, str] = {}  # destination in the image -> source path in the build stage
    exp: dict[str, Any] = {"copies": copies, "user": None, "expose": [], "entrypoint": None, "other": []}
    for word, rest in stage:
        if word == "COPY":
            args = [a for a in shlex.split(rest) if not a.startswith("--")]
            assert len(args) >= 2, f"COPY {rest}"
            *srcs, dest = args
            for src in srcs:
                copies[dest + Path(src).name if dest.endswith("/") else dest] = src
        elif word == "USER":
            exp["user"] = rest
        elif word == "EXPOSE":
            exp["expose"] += rest.split()
        elif word == "ENTRYPOINT":
            exp["entrypoint"] = json.loads(rest)
        else:
            exp["other"].append(word)
    return exp


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("images")
    res = subprocess.run(["bash", str(BUILD), "images", "--out", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, f"tests/image/build.sh images failed:\n{res.stderr[-4000:]}"
    return {"controller": out / "controller.tar", "kubeseal": out / "kubeseal.tar"}


def release_dir() -> Path:
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    return Path(json.loads(meta)["target_directory"]) / "release"


def layer_files(path: Path) -> tuple[dict, dict, dict[str, tarfile.TarInfo], dict[str, bytes]]:
    desc, config, _ = load_mkoci().read_image(str(path))
    with tarfile.open(path) as t:
        index = json.load(t.extractfile("index.json"))  # type: ignore[arg-type]
        digest = index["manifests"][0]["digest"].split(":", 1)[1]
        manifest = json.load(t.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
        layer = t.extractfile("blobs/sha256/" + manifest["layers"][0]["digest"].split(":", 1)[1]).read()  # type: ignore[union-attr]
    members: dict[str, tarfile.TarInfo] = {}
    data: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(layer)) as lt:
        for m in lt.getmembers():
            members["/" + m.name] = m
            if m.isfile():
                data["/" + m.name] = lt.extractfile(m).read()  # type: ignore[union-attr]
    return desc, {"config": config, "manifest": manifest}, members, data


def cri_name(image: str) -> str:
    """How containerd's CRI normalises an image reference (docker.io/library/ for a bare name)."""
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
    first = name.split("/")[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + name
    return f"{name}:{tag}"


def test_dockerfile_final_stage_is_what_the_image_builder_knows() -> None:
    """Only COPY/USER/EXPOSE/ENTRYPOINT: anything else (RUN, ENV, WORKDIR, ...) is something
    tests/image/build.sh does not reproduce, so this fails until both are changed together."""
    exp = dockerfile_expectations()
    assert exp["other"] == [], f"final stage has instructions build.sh does not mirror: {exp['other']}"
    assert exp["copies"] and exp["user"] and exp["entrypoint"]


def test_controller_image_has_exactly_the_dockerfile_contents(images: dict[str, Path]) -> None:
    exp = dockerfile_expectations()
    _, meta, members, data = layer_files(images["controller"])
    cfg = meta["config"]["config"]
    files = {p for p, m in members.items() if not m.isdir()}

    # The COPY'd binaries, byte for byte the release build, executable.
    rel = release_dir()
    libs: set[str] = set()
    mkoci = load_mkoci()
    for dest, src in exp["copies"].items():
        assert dest in data, f"{dest} (Dockerfile COPY {src}) missing from the image"
        built = rel / Path(src).name
        assert hashlib.sha256(data[dest]).hexdigest() == hashlib.sha256(built.read_bytes()).hexdigest(), \
            f"{dest} differs from {built}"
        assert members[dest].mode & 0o111, f"{dest} not executable"
        libs |= set(mkoci.ldd_libs(str(built)))
    assert libs, "the release binaries link no shared library? (ldd)"

    # Nothing but what the distroless/cc base provides for them.
    runtime = libs | {"/etc/passwd", "/etc/group", "/etc/ssl/certs/ca-certificates.crt"}
    assert files == set(exp["copies"]) | runtime, (
        f"extra: {sorted(files - set(exp['copies']) - runtime)}, "
        f"missing: {sorted((set(exp['copies']) | runtime) - files)}")
    for shell in ("/bin/sh", "/bin/bash", "/bin/dash", "/bin/busybox", "/usr/bin/sh"):
        assert shell not in members
    assert not [p for p in files if p.startswith(("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/"))]

    # USER, EXPOSE, ENTRYPOINT.
    assert cfg["User"] == exp["user"]
    uid = int(cfg["User"].split(":")[0])
    assert uid != 0
    assert f":x:{uid}:" in data["/etc/passwd"].decode()
    assert cfg["Entrypoint"] == exp["entrypoint"]
    assert set(cfg.get("ExposedPorts", {})) == {p if "/" in p else f"{p}/tcp" for p in exp["expose"]}
    assert members["/tmp"].mode & 0o1777 == 0o1777


def test_images_are_named_as_the_chart_default_and_share_the_layer(chart, images: dict[str, Path]) -> None:  # noqa: F811
    ctl_desc, ctl, _, _ = layer_files(images["controller"])
    ks_desc, ks, _, _ = layer_files(images["kubeseal"])
    image = container(render(chart))["image"]
    ref = ctl_desc["annotations"]["io.containerd.image.name"]
    assert ref == cri_name(image), f"chart default image {image!r} is {cri_name(image)!r} to the CRI, not {ref!r}"
    assert ks_desc["annotations"]["io.containerd.image.name"] != ref
    assert ks["manifest"]["layers"] == ctl["manifest"]["layers"]
    assert ks["config"]["config"]["Entrypoint"] == ["/usr/local/bin/kubeseal"]


def test_chart_security_context_matches_the_image(chart, images: dict[str, Path]) -> None:  # noqa: F811
    """The read-only root filesystem and the UID come from the chart's securityContext."""
    _, ctl, _, _ = layer_files(images["controller"])
    uid, _, gid = ctl["config"]["config"]["User"].partition(":")
    docs = render(chart)
    sc = container(docs).get("securityContext", {})
    assert sc.get("readOnlyRootFilesystem") is True, sc
    pod_sc = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"].get("securityContext", {})
    run_as = sc.get("runAsUser", pod_sc.get("runAsUser"))
    assert run_as == int(uid), (sc, pod_sc)
    assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True
