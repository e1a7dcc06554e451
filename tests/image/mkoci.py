#!/usr/bin/env python3
"""Writes an OCI image-layout tar (one uncompressed layer) from local files; Python stdlib only.

    mkoci.py OUT.tar REF [--file SRC:DST[:MODE]]... [--libs-of DST]... [--link TARGET:DST]...
             [--dir DST[:MODE]]... [--passwd NAME:UID:GID]... [--entrypoint JSON] [--cmd JSON]
             [--env K=V]... [--user U[:G]] [--expose PORT]... [--workdir DIR]
    mkoci.py --list OUT.tar      print the image's config (JSON) and its files, one path a line

--libs-of DST adds the shared libraries `ldd` reports for the file placed at DST (resolved to their
real files on this machine, stored at the paths ldd prints, so the dynamic loader finds them).
--passwd writes /etc/passwd and /etc/group with that one user and group (plus root, no shell).

The tar holds `oci-layout`, `index.json` (one manifest, annotated with `io.containerd.image.name`
= REF and `org.opencontainers.image.ref.name`, platform linux/amd64) and blobs/sha256/ (layer,
config, manifest). Every entry is owned by 0:0 with mtime 0, so the same inputs give the same
digests. `ctr -n k8s.io images import OUT.tar` makes it a CRI image named REF.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def die(msg: str) -> None:
    sys.exit(f"mkoci.py: {msg}")


def ldd_libs(path: str) -> list[str]:
    """Absolute paths of the shared objects `ldd path` lists (loader included), in ldd's order."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True)
    if out.returncode != 0:
        if "not a dynamic executable" in out.stdout + out.stderr:
            return []
        die(f"ldd {path} failed: {out.stderr.strip()}")
    libs = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            die(f"ldd {path}: {line}")
        m = re.match(r"\S+ => (/\S+) \(0x", line) or re.match(r"(/\S+) \(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


class Layer:
    def __init__(self) -> None:
        self.entries: dict[str, tarfile.TarInfo] = {}
        self.data: dict[str, bytes] = {}

    def _info(self, dst: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(dst.lstrip("/"))
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, 0, 0, 0
        ti.uname = ti.gname = ""
        return ti

    def add_dir(self, dst: str, mode: int = 0o755) -> None:
        dst = "/" + dst.strip("/")
        parent = os.path.dirname(dst)
        if parent != "/":
            self.add_dir(parent)
        if dst not in self.entries:
            self.entries[dst] = self._info(dst, tarfile.DIRTYPE, mode)

    def add_bytes(self, dst: str, data: bytes, mode: int) -> None:
        if dst in self.entries:
            die(f"{dst} added twice")
        self.add_dir(os.path.dirname(dst))
        ti = self._info(dst, tarfile.REGTYPE, mode)
        ti.size = len(data)
        self.entries[dst], self.data[dst] = ti, data

    def add_link(self, target: str, dst: str) -> None:
        if dst in self.entries:
            die(f"{dst} added twice")
        self.add_dir(os.path.dirname(dst))
        ti = self._info(dst, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.entries[dst] = ti

    def tar(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            for dst in sorted(self.entries):
                data = self.data.get(dst)
                t.addfile(self.entries[dst], io.BytesIO(data) if data is not None else None)
        return buf.getvalue()


def blob(out: tarfile.TarFile, data: bytes, media_type: str) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    ti = tarfile.TarInfo(f"blobs/sha256/{digest}")
    ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
    out.addfile(ti, io.BytesIO(data))
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def build(args: argparse.Namespace) -> None:
    layer = Layer()
    for spec in args.dir:
        d, _, mode = spec.partition(":")
        layer.add_dir(d, int(mode, 8) if mode else 0o755)
    placed: dict[str, str] = {}  # image path -> source file
    for spec in args.file:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            die(f"--file {spec}: expected SRC:DST[:MODE]")
        src, dst = parts[0], parts[1]
        mode = int(parts[2], 8) if len(parts) == 3 else 0o644
        if not os.path.isfile(src):
            die(f"--file {spec}: {src} is not a file")
        layer.add_bytes(dst, open(src, "rb").read(), mode)
        placed[dst] = src
    for dst in args.libs_of:
        if dst not in placed:
            die(f"--libs-of {dst}: no --file was placed at {dst}")
        for lib in ldd_libs(placed[dst]):
            if lib not in layer.entries:
                layer.add_bytes(lib, open(os.path.realpath(lib), "rb").read(), 0o755)
    for spec in args.link:
        target, _, dst = spec.partition(":")
        if not dst:
            die(f"--link {spec}: expected TARGET:DST")
        layer.add_link(target, dst)
    if args.passwd:
        name, uid, gid = args.passwd.split(":")
        layer.add_bytes("/etc/passwd", (f"root:x:0:0:root:/root:/sbin/nologin\n"
                                        f"{name}:x:{uid}:{gid}:{name}:/home/{name}:/sbin/nologin\n").encode(), 0o644)
        layer.add_bytes("/etc/group", f"root:x:0:\n{name}:x:{gid}:\n".encode(), 0o644)
        layer.add_dir(f"/home/{name}", 0o755)
    layer_tar = layer.tar()

    config: dict = {"Env": args.env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
    if args.entrypoint:
        config["Entrypoint"] = json.loads(args.entrypoint)
    if args.cmd:
        config["Cmd"] = json.loads(args.cmd)
    if args.user:
        config["User"] = args.user
    if args.workdir:
        config["WorkingDir"] = args.workdir
    if args.expose:
        config["ExposedPorts"] = {(p if "/" in p else f"{p}/tcp"): {} for p in args.expose}
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer_tar).hexdigest()}"]},
        "history": [{"created_by": "tests/image/mkoci.py"}],
    }
    tmp = args.out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as out:
        layout = json.dumps({"imageLayoutVersion": "1.0.0"}).encode()
        ti = tarfile.TarInfo("oci-layout")
        ti.size, ti.mtime = len(layout), 0
        out.addfile(ti, io.BytesIO(layout))
        layer_desc = blob(out, layer_tar, LAYER_TYPE)
        config_desc = blob(out, json.dumps(image_config, sort_keys=True).encode(), CONFIG_TYPE)
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": config_desc, "layers": [layer_desc]}
        manifest_desc = blob(out, json.dumps(manifest, sort_keys=True).encode(), MANIFEST_TYPE)
        manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
        manifest_desc["annotations"] = {"io.containerd.image.name": args.ref,
                                        "org.opencontainers.image.ref.name": args.ref}
        index = json.dumps({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [manifest_desc]},
                           sort_keys=True).encode()
        ti = tarfile.TarInfo("index.json")
        ti.size, ti.mtime = len(index), 0
        out.addfile(ti, io.BytesIO(index))
    os.replace(tmp, args.out)
    print(f"{args.out}: {args.ref}, layer {len(layer_tar)} bytes, {manifest_desc['digest']}", file=sys.stderr)


def read_image(path: str) -> tuple[dict, dict, list[tarfile.TarInfo]]:
    """(index.json's manifest descriptor, image config, layer members) of an image written here."""
    with tarfile.open(path) as t:
        def load(name: str) -> bytes:
            f = t.extractfile(name)
            if f is None:
                die(f"{path}: no {name}")
            return f.read()
        index = json.loads(load("index.json"))
        desc = index["manifests"][0]
        manifest = json.loads(load("blobs/sha256/" + desc["digest"].split(":", 1)[1]))
        config = json.loads(load("blobs/sha256/" + manifest["config"]["digest"].split(":", 1)[1]))
        layer = load("blobs/sha256/" + manifest["layers"][0]["digest"].split(":", 1)[1])
    with tarfile.open(fileobj=io.BytesIO(layer)) as lt:
        members = lt.getmembers()
    return desc, config, members


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--list":
        desc, config, members = read_image(sys.argv[2])
        print(json.dumps({"ref": desc["annotations"]["io.containerd.image.name"], "config": config["config"]}))
        for m in members:
            print("/" + m.name + ("/" if m.isdir() else ""))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("ref")
    p.add_argument("--file", action="append", default=[])
    p.add_argument("--libs-of", action="append", default=[])
    p.add_argument("--link", action="append", default=[])
    p.add_argument("--dir", action="append", default=[])
    p.add_argument("--passwd")
    p.add_argument("--entrypoint")
    p.add_argument("--cmd")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--user")
    p.add_argument("--expose", action="append", default=[])
    p.add_argument("--workdir")
    build(p.parse_args())


if __name__ == "__main__":
    main()
