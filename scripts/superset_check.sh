#!/usr/bin/env bash
# Installs Apache Superset from PyPI into a virtual environment, serves a small medlake lake,
# registers medlake as a database through Superset's REST API, and runs a SQL Lab query and
# a chart's query against it. Exits non-zero on the first thing that does not work.
#
# Usage: scripts/superset_check.sh [MEDLAKE_BINARY]   (default: target/debug/medlake)
#        scripts/superset_check.sh --install           (only install; scripts/services.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
# The newest Superset release, and the dependency versions it starts with: its wheel's
# bounds are loose (6.1.0 does not declare rich and cachetools, which it imports, and
# fails to start with Flask-Caching 2.4 or later).
version=${MEDLAKE_SUPERSET_VERSION:-6.1.0}
venv=${MEDLAKE_SUPERSET_VENV:-/var/tmp/medlake-superset-$version-venv}
log() { printf '[superset-check] %s\n' "$*" >&2; }

installed() {
  "$venv/bin/python" -c 'import superset, psycopg2, rich, cachetools' >/dev/null 2>&1 \
    && [ "$("$venv/bin/pip" show apache-superset 2>/dev/null | sed -n 's/^Version: //p')" = "$version" ]
}
if ! installed; then
  log "installing Apache Superset $version and psycopg2 into $venv (a few minutes)"
  python3 -m venv "$venv"
  # Every version pinned to a set that was seen to work (pip freeze of a working install),
  # so a new release of one of its ~150 dependencies cannot break the check.
  constraints="scripts/superset-$version-constraints.txt"
  [ -f "$constraints" ] || constraints=/dev/null
  "$venv/bin/pip" install -q --disable-pip-version-check -c "$constraints" \
    "apache-superset==$version" psycopg2-binary rich cachetools 'flask-caching>=2.1,<2.4' >&2
  installed || { log "Superset $version is not importable from $venv"; exit 1; }
fi
[ "${1:-}" = "--install" ] && exit 0

medlake=$(realpath "${1:-${CARGO_TARGET_DIR:-target}/debug/medlake}")
work=$(mktemp -d /tmp/medlake-superset.XXXXXX)
cleanup() {
  status=$?
  kill "${serve_pid:-}" "${superset_pid:-}" 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    for f in serve.log superset.log; do
      [ -f "$work/$f" ] && { log "the end of $f:"; tail -25 "$work/$f" >&2; }
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
log "Superset $("$venv/bin/pip" show apache-superset | sed -n 's/^Version: //p')"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port); pg_port=$(free_port); superset_port=$(free_port)
export MEDLAKE_BUSINESS_URL="sqlite://$work/business.db" MEDLAKE_LAKE_URL="$work/lake" \
  MEDLAKE_CATALOG_PATH="$work/catalog.db"
log "building a two-day lake with $medlake"
"$medlake" -q simulate --days 2 --scale 0.003 --start 2026-03-01 >/dev/null
for day in 2026-03-01 2026-03-02; do
  "$medlake" -q sync --day "$day" --no-reconcile >/dev/null
  "$medlake" -q build --day "$day" >/dev/null
done
password=$("$medlake" users add superset --role analyst | sed -n 's/^password (shown once): //p')
"$medlake" serve --http "127.0.0.1:$http_port" --pg-port "$pg_port" >"$work/serve.log" 2>&1 &
serve_pid=$!

export SUPERSET_HOME="$work/superset" SUPERSET_CONFIG_PATH="$work/superset_config.py" FLASK_APP=superset
mkdir -p "$SUPERSET_HOME"
admin_password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
cat >"$SUPERSET_CONFIG_PATH" <<CONFIG
SECRET_KEY = "$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
SQLALCHEMY_DATABASE_URI = "sqlite:///$SUPERSET_HOME/superset.db"
WTF_CSRF_ENABLED = False
CONFIG
log "initialising Superset's metadata database"
init_failed() { log "superset $1 failed:"; tail -20 "$work/superset-init.log" >&2; exit 1; }
"$venv/bin/superset" db upgrade >"$work/superset-init.log" 2>&1 || init_failed "db upgrade"
"$venv/bin/superset" fab create-admin --username admin --firstname a --lastname b \
  --email admin@example.invalid --password "$admin_password" >>"$work/superset-init.log" 2>&1 \
  || init_failed "fab create-admin"
"$venv/bin/superset" init >>"$work/superset-init.log" 2>&1 || init_failed "init"
"$venv/bin/superset" run -h 127.0.0.1 -p "$superset_port" --with-threads >"$work/superset.log" 2>&1 &
superset_pid=$!
for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$superset_port/health" >/dev/null 2>&1 && break
  sleep 1
done

log "registering medlake in Superset and querying it"
SUPERSET_URL="http://127.0.0.1:$superset_port" SUPERSET_PASSWORD="$admin_password" \
  MEDLAKE_URI="postgresql+psycopg2://superset:$password@127.0.0.1:$pg_port/medlake" \
  "$venv/bin/python" scripts/superset_check.py
