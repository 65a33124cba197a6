"""Turns idn-area-data's CSVs into the compact tables warga ships.

Codes lose their dots (11.01.01 -> 110101: the first six digits of a NIK; villages
11.01.01.2001 -> 1101012001), names are kept as published, rows are sorted by code, and every
code is checked to belong to its parent.
"""

import csv
import sys
from pathlib import Path

source, target = Path(sys.argv[1]), Path(sys.argv[2])
target.mkdir(parents=True, exist_ok=True)


def rows(name):
    with open(source / f"{name}.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


provinces = {r["code"]: r["name"] for r in rows("provinces")}
regencies = {}
for r in rows("regencies"):
    code = r["code"].replace(".", "")
    assert r["province_code"] in provinces and code.startswith(r["province_code"]) and len(code) == 4, r
    regencies[code] = r["name"]
districts = {}
for r in rows("districts"):
    code = r["code"].replace(".", "")
    parent = r["regency_code"].replace(".", "")
    assert parent in regencies and code.startswith(parent) and len(code) == 6, r
    districts[code] = r["name"]
villages = {}
for r in rows("villages"):
    code = r["code"].replace(".", "")
    parent = r["district_code"].replace(".", "")
    assert parent in districts and code.startswith(parent) and len(code) == 10, r
    villages[code] = r["name"]


def write(name, table):
    with open(target / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["code", "name"])
        for code in sorted(table):
            writer.writerow([code, table[code]])


write("provinces", provinces)
write("regencies", regencies)
write("districts", districts)
write("villages", villages)
print(f"{len(provinces)} provinces, {len(regencies)} regencies, {len(districts)} districts, {len(villages)} villages")
