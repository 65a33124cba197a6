#!/usr/bin/env python3
"""Checks that every query of warga's Grafana dashboards returns data from a Prometheus
that scrapes a running warga: each panel target's expression, with the dashboard's
variables set to "all" and $__rate_interval to a minute, must give at least one series.

    check_dashboards.py http://127.0.0.1:9090 deploy/grafana/dashboards/*.json

Exit status 1 names every query that returned nothing (a metric renamed, a label gone, a
route that no longer exists). Standard library only.
"""
import json
import sys
import urllib.parse
import urllib.request

SUBSTITUTIONS = {"$__rate_interval": "1m", "$__interval": "15s", "${datasource}": ""}


def expressions(dashboard):
    variables = [v["name"] for v in dashboard.get("templating", {}).get("list", []) if v.get("type") == "query"]
    panels = list(dashboard.get("panels", []))
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            expr = target.get("expr", "")
            for key, value in SUBSTITUTIONS.items():
                expr = expr.replace(key, value)
            for name in variables:
                expr = expr.replace("${" + name + "}", ".*").replace("$" + name, ".*")
            yield panel.get("title", "?"), expr


def query(prometheus, expr):
    url = prometheus.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(body.get("error", "query failed"))
    return body["data"]["result"]


def main():
    prometheus, files = sys.argv[1], sys.argv[2:]
    empty, checked = [], 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            dashboard = json.load(f)
        for title, expr in expressions(dashboard):
            checked += 1
            try:
                result = query(prometheus, expr)
            except Exception as error:  # noqa: BLE001 - report every failing query
                empty.append(f"{path}: {title}: {expr}: {error}")
                continue
            if not result:
                empty.append(f"{path}: {title}: no data: {expr}")
    for line in empty:
        print(line)
    print(f"{checked} dashboard queries checked, {checked - len(empty)} returned data")
    sys.exit(1 if empty else 0)


if __name__ == "__main__":
    main()
