#!/usr/bin/env python3
"""docs/api.yaml is valid YAML, says it is OpenAPI 3, and documents every
route that xgwd registers with a literal pattern (method and path), so that
the API reference cannot silently fall behind the code.

usage: check_api_yaml.py SOURCE_DIR
"""
import pathlib
import re
import sys

import yaml

root = pathlib.Path(sys.argv[1])
try:
    doc = yaml.safe_load((root / "docs" / "api.yaml").read_text(encoding="utf-8"))
except yaml.YAMLError as e:
    sys.exit(f"docs/api.yaml is not valid YAML: {e}")
if not str(doc.get("openapi", "")).startswith("3"):
    sys.exit("docs/api.yaml: 'openapi' must name an OpenAPI 3 version")
paths = doc.get("paths") or {}

source = "".join(p.read_text(encoding="utf-8") for p in sorted((root / "gateway").glob("*.cc")))
routes = re.findall(r'\.method\s*=\s*"([A-Z]+)",\s*\.pattern\s*=\s*"([^"]+)"', source)
# Resources registered through ResourceRoutes (api_support.h): Get is GET,
# Post and Action are POST.
for verb, pattern in re.findall(r'routes\.(Get|Post|Action)\(\s*"([^"]+)"', source):
    routes.append(("GET" if verb == "Get" else "POST", pattern))
if len(routes) < 40:
    sys.exit(f"found only {len(routes)} routes in gateway/*.cc: has the route syntax changed?")
missing = sorted({f"{m} {p}" for m, p in routes if p not in paths or m.lower() not in (paths[p] or {})})
if missing:
    sys.exit("docs/api.yaml does not document:\n  " + "\n  ".join(missing))
print(f"docs/api.yaml: valid, documents all {len(set(routes))} literal routes")
