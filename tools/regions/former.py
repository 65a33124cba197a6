"""Builds former.csv: region codes that a NIK may carry but today's table no longer has.

A NIK is issued once and never re-issued, so it keeps the regency and district codes in force
when it was issued, also after a split or renumbering. Two sources:

1. The Kemendagri table of Permendagri 72/2019 (npm `wilayah-indonesia` 1.0.2, MIT), read from
   OLD (its `data` directory). Every regency and district code in it that today's table
   (TARGET's regencies.csv and districts.csv) lacks is written with its successor: the regency
   of the same name in a new province, the district of the same name in that regency. These
   are the 2022 Papua splits. A name that matches nothing stops the build, unless it is one of
   the spelling changes listed below.
2. Kalimantan Utara (2012), older than that table: the regencies moved from Kalimantan Timur,
   with their codes as in Permendagri 66/2011 and their successors as in today's table. Their
   former district codes are not in any openly licensed table, so none are listed: a NIK with
   such a regency is accepted without checking its district digits.

Usage: former.py OLD TARGET
"""

import csv
import json
import re
import sys
from pathlib import Path

old, target = Path(sys.argv[1]), Path(sys.argv[2])

# The law that made each new province (public-domain legislation, UU No. 28/2014 art. 42).
BASIS = {
    "65": ("2012", "UU 20/2012 (Kalimantan Utara)"),
    "93": ("2022", "UU 14/2022 (Papua Selatan)"),
    "94": ("2022", "UU 15/2022 (Papua Tengah)"),
    "95": ("2022", "UU 16/2022 (Papua Pegunungan)"),
    "96": ("2022", "UU 29/2022 (Papua Barat Daya)"),
}

# Districts whose spelling changed with the move: former code -> today's code.
SPELLING = {
    "911336": "950334",  # Holuon -> Holuwon
    "911344": "950342",  # Seredela -> Seradala
    "911347": "950345",  # Kwelemdua -> Kwelamdua
    "911818": "930418",  # Ayip -> Ayib
    "912101": "950501",  # Kobagma -> Kobakma
}

# Kalimantan Timur's regencies that became Kalimantan Utara (UU 20/2012): former code, name,
# today's code.
KALTARA = [
    ("6404", "Kabupaten Bulungan", "6501"),
    ("6405", "Kabupaten Nunukan", "6503"),
    ("6406", "Kabupaten Malinau", "6502"),
    ("6410", "Kabupaten Tana Tidung", "6504"),
    ("6473", "Kota Tarakan", "6571"),
]


def table(name):
    with open(target / f"{name}.csv", newline="", encoding="utf-8") as f:
        return {row["code"]: row["name"] for row in csv.DictReader(f)}


def load(name):
    with open(old / f"{name}.json", encoding="utf-8") as f:
        return json.load(f)


def key(name):
    """A name without its kind, case, spaces or punctuation."""
    name = re.sub(r"^(KABUPATEN|KAB\.?|KOTA)\s+", "", name.upper())
    return re.sub(r"[^A-Z]", "", name)


regencies, districts = table("regencies"), table("districts")
old_regencies = {
    "%02d%02d" % (r["kode"]["id_provinsi"], r["kode"]["id_kota"]): r["kota"] for r in load("kota")
}
old_districts = {
    "%02d%02d%02d" % (d["kode"]["id_provinsi"], d["kode"]["id_kota"], d["kode"]["id_kecamatan"]): d["kecamatan"]
    for d in load("kecamatan")
}

rows = []
successors = {}
for code, name in sorted(old_regencies.items()):
    if code in regencies:
        continue
    city = name.startswith("KOTA")
    matches = [
        new
        for new, new_name in regencies.items()
        if new not in old_regencies
        and new[:2] in BASIS
        and key(new_name) == key(name)
        and new_name.startswith("Kota") == city
    ]
    assert len(matches) == 1, f"regency {code} {name}: successors {matches}"
    new = matches[0]
    successors[code] = new
    year, basis = BASIS[new[:2]]
    rows.append((code, regencies[new], new, year, basis))

for code, name in sorted(old_districts.items()):
    if code in districts:
        continue
    assert code[:4] in successors, f"district {code} {name} left a regency that still exists"
    parent = successors[code[:4]]
    if code in SPELLING:
        matches = [SPELLING[code]]
    else:
        matches = [new for new, new_name in districts.items() if new[:4] == parent and key(new_name) == key(name)]
    assert len(matches) == 1 and matches[0][:4] == parent, f"district {code} {name}: successors {matches}"
    year, basis = BASIS[parent[:2]]
    rows.append((code, name, matches[0], year, basis))

for code, name, new in KALTARA:
    assert code not in regencies and code not in old_regencies, f"{code} is not a former code"
    assert key(regencies[new]) == key(name), f"{new} is not {name}"
    year, basis = BASIS[new[:2]]
    rows.append((code, name, new, year, basis))

with open(target / "former.csv", "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(["code", "name", "successor", "year", "basis"])
    for row in sorted(rows):
        writer.writerow(row)
print(f"{sum(len(r[0]) == 4 for r in rows)} former regencies, {sum(len(r[0]) == 6 for r in rows)} former districts")
