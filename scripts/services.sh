#!/usr/bin/env bash
# Starts (or checks) everything the tests need, so `scripts/test.sh` works on a fresh machine:
# the machine's MariaDB on 127.0.0.1:3306 and a Python with the deltalake reader.
# Prints the environment the tests read (MEDLAKE_TEST_MYSQL_URL, MEDLAKE_TEST_PYTHON) as
# `export` lines, so callers can `eval "$(scripts/services.sh)"`.
set -euo pipefail

log() { printf '[services] %s\n' "$*" >&2; }

mariadb_up() { mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; }

if ! command -v mariadb-admin >/dev/null 2>&1; then
  log "installing MariaDB from Debian's packages"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >&2
fi
if ! mariadb_up; then
  log "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >&2 || true
  for _ in $(seq 1 60); do mariadb_up && break; sleep 1; done
fi
mariadb_up || { log "MariaDB did not come up on 127.0.0.1:3306"; exit 1; }
log "MariaDB is up on 127.0.0.1:3306"

venv=${MEDLAKE_TEST_VENV:-/var/tmp/medlake-test-venv}
if ! "$venv/bin/python" -c 'import deltalake, pyarrow' >/dev/null 2>&1; then
  log "installing the Python Delta reader (deltalake, pyarrow) into $venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check 'deltalake>=1.0' 'pyarrow>=15' >&2
fi
"$venv/bin/python" -c 'import deltalake' || { log "deltalake for Python is not importable"; exit 1; }
log "Python Delta reader: $("$venv/bin/python" -c 'import deltalake; print(deltalake.__version__)')"

echo "export MEDLAKE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306"
echo "export MEDLAKE_TEST_PYTHON=$venv/bin/python"
