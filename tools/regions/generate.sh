#!/usr/bin/env bash
# Regenerates services/warga-population/data/regions/*.csv from the npm package
# idn-area-data (data under the Open Database License 1.0; see SOURCE.md there).
# Usage: tools/regions/generate.sh [VERSION]
set -euo pipefail
version="${1:-4.0.1}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/services/warga-population/data/regions"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "idn-area-data@$version" >/dev/null && tar xzf "idn-area-data-$version.tgz")
python3 "$root/tools/regions/normalize.py" "$work/package/data" "$out"
sed -i "s/^Version: .*/Version: $version/" "$out/SOURCE.md"
echo "regions written to $out"
