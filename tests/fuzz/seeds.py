#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from the interop
fixtures (../shared/fixtures/interop, or $SSRS_FIXTURES) and the unit-test inputs of
common/src/template.rs. Run once to (re)create seeds; the committed corpus is these seeds plus
what the long runs found, minimised with `cargo fuzz cmin`. Needs python3 with PyYAML and openssl.
"""
import base64, hashlib, json, os, re, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIX = os.environ.get("SSRS_FIXTURES", os.path.join(REPO, "..", "shared", "fixtures", "interop"))
CORPUS = os.path.join(HERE, "corpus")


def fixture(name):
    with open(os.path.join(FIX, name), "rb") as f:
        return f.read()


def put(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def yaml_docs(text):
    import yaml
    return [d for d in yaml.safe_load_all(text) if d is not None]


def envelope():
    v = json.loads(fixture("vectors-4096.json"))
    for case in v["vectors"] + v["negative"] + v["lenient"]:
        label = bytes.fromhex(case["label_hex"])
        if len(label) > 255 or len(case["ciphertext_b64"]) > 4000:
            continue  # one byte of label length; the 64 KiB vectors add size, not coverage
        b64 = case["ciphertext_b64"].encode()
        put("envelope", bytes([0, len(label)]) + label + base64.b64decode(b64))
        put("envelope", bytes([1, len(label)]) + label + b64)
    put("envelope", b"\x00\x00")
    put("envelope", b"\x01\x00not base64!")
    put("envelope", b"\x01\x05ns/nmc2Vj\x7fcmV0LXZhbHVl")  # DEL: checked against error text
    put("envelope", b"\x00\x05ns/nm\x02\x00" + bytes(512 + 16))


def documents():
    names = ["secret.yaml", "key-secret.yaml", "sealed-by-kubesealpy-strict.yaml",
             "sealed-by-kubesealpy-namespace-wide.yaml", "sealed-by-kubesealpy-cluster-wide.yaml"]
    docs = []
    for n in names:
        raw = fixture(n)
        put("documents", raw)
        for d in yaml_docs(raw):
            docs.append(d)
            put("documents", json.dumps(d, indent=2).encode())
    put("documents", b"---\n".join(fixture(n) for n in names[:3]))
    put("documents", "".join(json.dumps(d) + "\n" for d in docs[:3]).encode())
    put("documents", json.dumps({"apiVersion": "v1", "kind": "List", "items": docs[:2]}).encode())
    put("documents", b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: n\n  namespace: ns\n"
                     b"  annotations:\n    sealedsecrets.bitnami.com/cluster-wide: \"true\"\n"
                     b"stringData:\n  pin: 1234\n  on: yes\n")
    put("documents", b"a: &a [1, 2]\nb: *a\n---\n---\nnull\n")
    put("documents", b"\xef\xbb\xbf{\"kind\": \"Secret\", \"data\": {\"k\": \"dg==\"}}")


def pem():
    key, cert = fixture("key-4096.pem"), fixture("cert-4096.pem")
    put("pem", key)
    put("pem", cert)
    put("pem", cert + key)
    put("pem", b"junk before\n" + cert + b"\njunk between\n" + cert)
    with tempfile.TemporaryDirectory() as t:
        def run(*args, data=None):
            return subprocess.run(["openssl", *args], input=data, check=True,
                                  capture_output=True).stdout
        put("pem", run("pkcs8", "-topk8", "-nocrypt", data=key))
        put("pem", run("x509", "-outform", "DER", data=cert))
        put("pem", run("rsa", "-RSAPublicKey_out", "-outform", "DER", data=key))
        put("pem", run("rsa", "-pubout", "-outform", "DER", data=key))
        put("pem", run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"))
        k2 = os.path.join(t, "k2.pem")
        run("genrsa", "-traditional", "-out", k2, "2048")
        with open(k2, "rb") as f:
            put("pem", f.read())
        put("pem", run("req", "-new", "-x509", "-key", k2, "-subj", "/", "-days", "1"))
        ec = os.path.join(t, "ec.pem")
        run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", ec)
        put("pem", run("req", "-new", "-x509", "-key", ec, "-subj", "/CN=ec", "-days", "1"))


RUST_STR = re.compile(r'(?:\b(?:ok|fails|r|check)\(\s*(?:"k",\s*)?)(r#"(.*?)"#|"((?:[^"\\]|\\.)*)")', re.S)


def unescape(s):
    return (s.replace("\\\\", "\x00").replace('\\"', '"').replace("\\n", "\n")
             .replace("\\t", "\t").replace("\x00", "\\"))


def template():
    with open(os.path.join(REPO, "common", "src", "template.rs"), encoding="utf-8") as f:
        src = f.read()
    tests = src[src.index("#[cfg(test)]"):]
    data = (b"\x00password=hunter2\x00user=admin\x00my-key=v\x00x=hi\x00pass=s3cr3t\x00n=42"
            b"\x00tok=s3cr\x7fet-value")
    seen = set()
    for m in RUST_STR.finditer(tests):
        text = m.group(2) if m.group(2) is not None else unescape(m.group(3))
        if "{{" not in text or text in seen:
            continue
        seen.add(text)
        put("template", text.encode() + data)


def http_bodies():
    for n in ["sealed-by-kubesealpy-strict.yaml", "sealed-by-kubesealpy-namespace-wide.yaml",
              "sealed-by-kubesealpy-cluster-wide.yaml"]:
        raw = fixture(n)
        for sel in (0, 1, 3):
            put("http_bodies", bytes([sel]) + raw)
        for d in yaml_docs(raw):
            put("http_bodies", b"\x01" + json.dumps(d).encode())
            t = dict(d)
            t["spec"] = dict(d["spec"])
            t["spec"]["template"] = dict(d["spec"].get("template") or {})
            t["spec"]["template"]["data"] = {"x": '{{ index . "password" | b64enc }}'}
            put("http_bodies", b"\x00" + json.dumps(t).encode())
    put("http_bodies", b"\x00{}")
    put("http_bodies", b'\x00{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "spec": \x7f}')
    put("http_bodies", b"\x02apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\n"
                       b"metadata: {name: a, namespace: b}\nspec:\n  data: AAAA\n")


if __name__ == "__main__":
    for f in (envelope, documents, pem, template, http_bodies):
        f()
    for t in sorted(os.listdir(CORPUS)):
        print(t, len(os.listdir(os.path.join(CORPUS, t))))
