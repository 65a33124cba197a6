#!/usr/bin/env bash
# Regenerates services/warga-population/data/regions/*.csv: today's table from the npm package
# idn-area-data (Open Database License 1.0), and the former codes a NIK may still carry
# (former.csv) from the npm package wilayah-indonesia (MIT; the Permendagri 72/2019 table) and
# the laws that split provinces since. See SOURCE.md there.
# Usage: tools/regions/generate.sh [VERSION]
set -euo pipefail
version="${1:-4.0.1}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/services/warga-population/data/regions"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
former_version="1.0.2"
(cd "$work" && npm pack --silent "idn-area-data@$version" >/dev/null && tar xzf "idn-area-data-$version.tgz")
python3 "$root/tools/regions/normalize.py" "$work/package/data" "$out"
mkdir "$work/former"
(cd "$work/former" && npm pack --silent "wilayah-indonesia@$former_version" >/dev/null && tar xzf "wilayah-indonesia-$former_version.tgz")
python3 "$root/tools/regions/former.py" "$work/former/package/data" "$out"
sed -i "s/^Version: .*/Version: $version/" "$out/SOURCE.md"
echo "regions written to $out"
