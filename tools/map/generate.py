#!/usr/bin/env python3
"""Generates services/warga-reports/data/indonesia-50m.json, the outline JagaWarga's
server-drawn maps use, from Natural Earth's 1:50m Admin 0 countries as redistributed in
TopoJSON by the npm package world-atlas (ISC; the data itself is public domain).

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python3 tools/map/generate.py package/countries-50m.json > services/warga-reports/data/indonesia-50m.json

Output: {"source": ..., "rings": [[[lon, lat], ...], ...]} with coordinates rounded to
0.001 degree (about 100 m), every outer ring and hole of Indonesia (ISO 3166 numeric 360).
"""

import json
import sys


def decode_arcs(topology):
    scale = topology["transform"]["scale"]
    translate = topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * scale[0] + translate[0], y * scale[1] + translate[1]))
        arcs.append(points)
    return arcs


def ring(arcs, indexes):
    points = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else list(reversed(arcs[~index]))
        # Consecutive arcs share their joining point.
        points.extend(arc if not points else arc[1:])
    return points


def main():
    topology = json.load(open(sys.argv[1]))
    arcs = decode_arcs(topology)
    geometries = topology["objects"]["countries"]["geometries"]
    indonesia = next(g for g in geometries if str(g.get("id")) == "360")
    polygons = indonesia["arcs"] if indonesia["type"] == "MultiPolygon" else [indonesia["arcs"]]
    rings = []
    for polygon in polygons:
        for indexes in polygon:
            points = [[round(x, 3), round(y, 3)] for x, y in ring(arcs, indexes)]
            deduped = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
            if len(deduped) >= 4:
                rings.append(deduped)
    json.dump(
        {
            "source": "Natural Earth 1:50m Admin 0 countries v4.1.0 (public domain), via world-atlas 2.0.2 (ISC)",
            "rings": rings,
        },
        sys.stdout,
        separators=(",", ":"),
    )


if __name__ == "__main__":
    main()
