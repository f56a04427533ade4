#!/usr/bin/env bash
# Puts the official OpenLineage JSON Schemas (release 1.50.0) into DIR: DIR/OpenLineage.json
# (the core schema, $id https://openlineage.io/spec/2-0-2/OpenLineage.json) and
# DIR/facets/*.json (the facet schemas), for olschema.py, validate.py and receiver.py.
#
# Usage: scripts/openlineage/fetch_spec.sh DIR
#
# The schemas come from crates.io, not GitHub: the crate datafusion-openlineage 0.0.12
# vendors them verbatim (tests/schemas/openlineage/, whose README.md names the tag and
# files), and crates.io is reachable wherever cargo works. The .crate is a .tar.gz;
# it is pinned by its sha256, so a changed download fails instead of changing the spec.
# Idempotent: if DIR/OpenLineage.json exists, nothing is done. OpenLineage.json is put
# in place last, so an interrupted run leaves no DIR that looks complete.
set -euo pipefail

log() { printf '[openlineage-spec] %s\n' "$*" >&2; }

[ $# -eq 1 ] || { log "usage: $0 DIR"; exit 2; }
dir=$1
if [ -f "$dir/OpenLineage.json" ]; then
  log "OpenLineage schemas already in $dir"
  exit 0
fi

crate=datafusion-openlineage
version=0.0.12
sha256=c3174cdfb83e6ada02b64b2684f696ca382886cae5ce98d12ec802bbb1392129
url="https://static.crates.io/crates/$crate/$crate-$version.crate"
folder="$crate-$version/tests/schemas/openlineage"

mkdir -p "$dir"
# The scratch folder sits beside DIR, so the final mv stays on one file system.
tmp=$(mktemp -d "${dir%/}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

log "downloading the OpenLineage 1.50.0 schemas from $url"
curl -fsSL --retry 3 --connect-timeout 20 -o "$tmp/spec.crate" "$url" \
  || { log "could not download $url"; exit 1; }
got=$(sha256sum "$tmp/spec.crate" | cut -d' ' -f1)
[ "$got" = "$sha256" ] \
  || { log "$url has sha256 $got, expected $sha256"; exit 1; }

mkdir "$tmp/spec"
# Only the schema folder, without its four leading path components.
tar -xzf "$tmp/spec.crate" -C "$tmp/spec" --strip-components=4 "$folder" \
  || { log "$folder is not in $crate-$version.crate"; exit 1; }
[ -f "$tmp/spec/OpenLineage.json" ] && compgen -G "$tmp/spec/facets/*.json" >/dev/null \
  || { log "$folder in $crate-$version.crate has no OpenLineage.json or facets/*.json"; exit 1; }

mkdir -p "$dir/facets"
cp "$tmp/spec/facets/"*.json "$dir/facets/"
[ ! -f "$tmp/spec/README.md" ] || cp "$tmp/spec/README.md" "$dir/README.md"
mv "$tmp/spec/OpenLineage.json" "$dir/OpenLineage.json"
log "OpenLineage schemas in $dir ($(ls "$dir/facets" | wc -l) facet schemas)"
