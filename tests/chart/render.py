"""Render charts/sealed-secrets with Helm v4's engine and print the manifests as one JSON list.

Usage: python render.py [--namespace NS] [--name RELEASE] [--set-json KEY=JSON ...]
Used by tests/demo.sh; runs in the virtualenv made by tests/chart/venv.sh.
"""

import argparse
import json
import os
import sys

import yaml
from helm_python.chart import Chart

CHART = os.path.join(os.path.dirname(__file__), "..", "..", "charts", "sealed-secrets")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--namespace", default="kube-system")
    p.add_argument("--name", default="sealed-secrets")
    p.add_argument("--set-json", action="append", default=[], metavar="KEY=JSON")
    args = p.parse_args()
    values = {}
    for item in args.set_json:
        key, _, raw = item.partition("=")
        values[key] = json.loads(raw)
    rendered = Chart.load(CHART).render(values=values, name=args.name, namespace=args.namespace)
    docs = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                docs.append(doc)
    json.dump(docs, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
