#!/usr/bin/env bash
# Starts (or checks) everything the tests need, so `scripts/test.sh` works on a fresh machine:
# the machine's MariaDB on 127.0.0.1:3306, a second MariaDB with a row-based binlog on
# 127.0.0.1:3307 (its own data folder under /var/tmp, for change capture), a Kafka-protocol
# broker (tansu, built from crates.io once) on 127.0.0.1:19092, and a Python with the
# deltalake reader and a Kafka consumer (kafka-python), an OpenLDAP test directory on
# 127.0.0.1:3389, and the official OpenLineage JSON Schemas (scripts/openlineage).
# Prints the environment the tests read (MEDLAKE_TEST_MYSQL_URL, MEDLAKE_TEST_BINLOG_URL,
# MEDLAKE_TEST_KAFKA, MEDLAKE_TEST_PYTHON, MEDLAKE_TEST_POSTGRES_URL,
# MEDLAKE_TEST_OPENLINEAGE_SPEC, ...) as `export` lines, so callers can
# `eval "$(scripts/services.sh)"`.
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

# The binlog MariaDB: a throwaway instance of the same server binary, row-based binlog with
# full row images and column names in the table maps (binlog_row_metadata=FULL), as a
# production primary that medlake captures from would be configured.
binlog_port=${MEDLAKE_TEST_BINLOG_PORT:-3307}
binlog_dir=${MEDLAKE_TEST_BINLOG_DIR:-/var/tmp/medlake-binlog-mariadb}
binlog_up() { mariadb-admin --protocol=tcp -h 127.0.0.1 -P "$binlog_port" -u root ping >/dev/null 2>&1; }
if ! binlog_up; then
  if [ ! -d "$binlog_dir/data/mysql" ]; then
    log "creating the binlog MariaDB's data folder $binlog_dir/data"
    mkdir -p "$binlog_dir"
    mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$binlog_dir/data" \
      --auth-root-authentication-method=normal --skip-test-db >"$binlog_dir/install.log" 2>&1 \
      || { log "mariadb-install-db failed, see $binlog_dir/install.log"; exit 1; }
  fi
  log "starting the binlog MariaDB on 127.0.0.1:$binlog_port"
  # setsid: the server outlives this script and the shell that ran it.
  setsid /usr/sbin/mariadbd --no-defaults --user="$(id -un)" --datadir="$binlog_dir/data" \
    --port="$binlog_port" --bind-address=127.0.0.1 --socket="$binlog_dir/mysqld.sock" \
    --pid-file="$binlog_dir/mysqld.pid" --log-error="$binlog_dir/error.log" \
    --server-id=1 --log-bin="$binlog_dir/data/binlog" --binlog-format=ROW \
    --binlog-row-image=FULL --binlog-row-metadata=FULL --max-connections=500 \
    --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 --sync-binlog=0 \
    </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 60); do binlog_up && break; sleep 1; done
fi
binlog_up || { log "the binlog MariaDB did not come up on 127.0.0.1:$binlog_port (see $binlog_dir/error.log)"; exit 1; }
binlog_format=$(mariadb --protocol=tcp -h 127.0.0.1 -P "$binlog_port" -u root -N -e 'SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata')
[ "$binlog_format" = "$(printf '1\tROW\tFULL\tFULL')" ] \
  || { log "the MariaDB on port $binlog_port is not logging full row images: $binlog_format"; exit 1; }
log "binlog MariaDB is up on 127.0.0.1:$binlog_port (row-based binlog)"

# A Kafka-protocol broker: tansu keeps topics in memory, so each start is empty. Built
# once into a folder that outlives the clone, with only the in-memory storage engine
# (dynostore) and unoptimised: a test broker moves a few thousand messages, and without
# optimisation the one-time build is much shorter on 2 cores.
tools=${MEDLAKE_TOOLS_DIR:-/var/tmp/medlake-tools}
tansu="$tools/bin/tansu"
kafka_port=${MEDLAKE_TEST_KAFKA_PORT:-19092}
if [ ! -x "$tansu" ]; then
  log "building the tansu Kafka broker from crates.io into $tools (once)"
  started=$(date +%s)
  CARGO_TARGET_DIR="$tools/target" CARGO_PROFILE_RELEASE_OPT_LEVEL=0 \
    CARGO_PROFILE_RELEASE_DEBUG=false cargo install --quiet --root "$tools" tansu \
    --version 0.6.0 --locked --features dynostore >&2 || { log "cargo install tansu failed"; exit 1; }
  rm -rf "$tools/target"
  log "tansu built in $(( $(date +%s) - started )) s"
fi
kafka_up() { (exec 3<>"/dev/tcp/127.0.0.1/$kafka_port") 2>/dev/null; }
if ! kafka_up; then
  log "starting the tansu Kafka broker on 127.0.0.1:$kafka_port"
  setsid "$tansu" broker --listener-url "tcp://127.0.0.1:$kafka_port" \
    --advertised-listener-url "tcp://127.0.0.1:$kafka_port" --storage-engine memory://tansu/ \
    </dev/null >"$tools/tansu.log" 2>&1 &
  for _ in $(seq 1 60); do kafka_up && break; sleep 1; done
fi
kafka_up || { log "the Kafka broker did not come up on 127.0.0.1:$kafka_port (see $tools/tansu.log)"; exit 1; }
log "Kafka broker (tansu) is up on 127.0.0.1:$kafka_port"

venv=${MEDLAKE_TEST_VENV:-/var/tmp/medlake-test-venv}
# The PostgreSQL clients of the compatibility suite (crates/cli/tests/it/pg_clients.rs):
# psycopg 3, psycopg2, asyncpg, SQLAlchemy 2 with pandas.
# jsonschema and referencing, for the OpenLineage checks (scripts/openlineage/olschema.py):
# the format-nongpl extra brings rfc3339-validator and rfc3986-validator, without which
# jsonschema silently skips the `date-time` and `uri` formats of the OpenLineage schemas
# (nongpl: rfc3986-validator instead of the GPL rfc3987). openlineage-python, the official
# OpenLineage client, whose generated facet classes check the facets whose schemas the
# vendored release lacks (the `version` facet, DatasetVersionDatasetFacet). aiosmtpd, the
# SMTP server the alert tests mail to (scripts/alerts/receivers.py). They are in the
# import check, so a venv made before them is upgraded.
if ! "$venv/bin/python" -c 'import deltalake, pyarrow, kafka, psycopg, sqlalchemy, psycopg2, asyncpg, pandas, jsonschema, referencing, rfc3339_validator, rfc3986_validator, openlineage.client, aiosmtpd, pydicom' >/dev/null 2>&1; then
  log "installing the Python Delta reader, Kafka consumer, PostgreSQL clients, JSON Schema validator and OpenLineage client into $venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check 'deltalake>=1.0' 'pyarrow>=15' \
    'kafka-python>=2.0' 'psycopg[binary]>=3.1' 'SQLAlchemy>=2.0' 'psycopg2-binary>=2.9' \
    'asyncpg>=0.29' 'pandas>=2.2' 'jsonschema[format-nongpl]>=4.18' 'referencing>=0.28' \
    'openlineage-python>=1.39' 'aiosmtpd>=1.4' 'pydicom>=3.0' >&2
fi
"$venv/bin/python" -c 'import deltalake' || { log "deltalake for Python is not importable"; exit 1; }
log "Python Delta reader: $("$venv/bin/python" -c 'import deltalake; print(deltalake.__version__)')"

# The official OpenLineage JSON Schemas (release 1.50.0), which the lineage tests check
# every emitted event against (scripts/openlineage/validate.py, receiver.py). Fetched
# once from crates.io, where a crate vendors them, into a folder that outlives the clone.
openlineage_spec=${MEDLAKE_TEST_OPENLINEAGE_SPEC:-/var/tmp/medlake-openlineage-spec}
"$(cd "$(dirname "$0")" && pwd)/openlineage/fetch_spec.sh" "$openlineage_spec" \
  || { log "fetching the OpenLineage schemas into $openlineage_spec failed"; exit 1; }

# Prometheus (with promtool) and Alertmanager from Debian's packages, for the operations
# tests (crates/cli/tests/it/prometheus.rs): each test starts its own on free ports; the
# packages' own services are not started (no init in CI) and not needed.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v prometheus-alertmanager >/dev/null 2>&1; then
  log "installing Prometheus and Alertmanager from Debian's packages"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager >&2
fi
command -v promtool >/dev/null 2>&1 || { log "promtool is not installed"; exit 1; }
log "Prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}'), Alertmanager $(prometheus-alertmanager --version 2>&1 | head -1 | awk '{print $3}')"

# Orthanc, a real PACS, with its DICOMweb plugin, and DCMTK's dcmdump, from Debian's
# packages, for the imaging tests (crates/cli/tests/it/imaging_*.rs): each test starts its
# own Orthanc on a free port with a configuration of its own (a random password, storage in
# the test's folder); the package's own service is not started and not needed.
if ! command -v Orthanc >/dev/null 2>&1 || ! command -v dcmdump >/dev/null 2>&1 \
  || ! ls /usr/share/orthanc/plugins/libOrthancDicomWeb.so >/dev/null 2>&1; then
  log "installing Orthanc, its DICOMweb plugin and DCMTK from Debian's packages"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq orthanc orthanc-dicomweb dcmtk >&2
fi
command -v Orthanc >/dev/null 2>&1 || { log "Orthanc is not installed"; exit 1; }
orthanc_plugin=$(ls /usr/share/orthanc/plugins/libOrthancDicomWeb.so* 2>/dev/null | head -1)
[ -n "$orthanc_plugin" ] || { log "the Orthanc DICOMweb plugin is not installed"; exit 1; }
log "Orthanc $(Orthanc --version 2>&1 | head -1 | awk '{print $NF}') with $orthanc_plugin; $(dcmdump --version 2>&1 | head -1)"

# psql, the PostgreSQL client the serving tests drive (the client only; no server is needed).
if ! command -v psql >/dev/null 2>&1; then
  log "installing psql from Debian's packages"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >&2
fi
command -v psql >/dev/null 2>&1 || { log "psql is not installed"; exit 1; }

# The machine's PostgreSQL on 127.0.0.1:5432 (trust for local connections), for the
# catalog's PostgreSQL backend: the catalog tests run against it as well as SQLite.
pg_up() { psql -h 127.0.0.1 -p 5432 -U root -d postgres -Atc 'SELECT 1' >/dev/null 2>&1; }
if ! pg_up && [ -d /etc/postgresql ]; then
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >&2 || true
  for _ in $(seq 1 60); do pg_up && break; sleep 1; done
fi
pg_up || { log "PostgreSQL is not answering on 127.0.0.1:5432 as root (trust); the catalog tests need it"; exit 1; }
log "PostgreSQL is up on 127.0.0.1:5432"

# A test directory: OpenLDAP's slapd from Debian's packages, on 127.0.0.1:3389 with the
# tree of scripts/ldap (people, groups, one disabled person). Its passwords are random,
# made when the directory is, and kept beside it (mode 600) for the tests to read.
ldap_port=${MEDLAKE_TEST_LDAP_PORT:-3389}
ldap_dir=${MEDLAKE_TEST_LDAP_DIR:-/var/tmp/medlake-ldap}
ldap_up() { ldapsearch -x -H "ldap://127.0.0.1:$ldap_port" -b "" -s base >/dev/null 2>&1; }
if [ ! -x /usr/sbin/slapd ] || ! command -v ldapsearch >/dev/null 2>&1; then
  log "installing OpenLDAP (slapd, ldap-utils) from Debian's packages"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slapd ldap-utils >&2
fi
if ! ldap_up; then
  log "making the test directory in $ldap_dir and starting slapd on 127.0.0.1:$ldap_port"
  rm -rf "$ldap_dir" && mkdir -p "$ldap_dir/data" && chmod 700 "$ldap_dir"
  head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$ldap_dir/password"
  head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$ldap_dir/admin-password"
  chmod 600 "$ldap_dir/password" "$ldap_dir/admin-password"
  ldap_src="$(cd "$(dirname "$0")" && pwd)/ldap"
  rootpw=$(/usr/sbin/slappasswd -s "$(cat "$ldap_dir/admin-password")")
  userpw=$(/usr/sbin/slappasswd -s "$(cat "$ldap_dir/password")")
  sed -e "s|@DIR@|$ldap_dir|g" -e "s|@ROOTPW@|$rootpw|" "$ldap_src/slapd.conf" > "$ldap_dir/slapd.conf"
  sed -e "s|@PASSWORD@|$userpw|" "$ldap_src/tree.ldif" > "$ldap_dir/tree.ldif"
  /usr/sbin/slapadd -q -f "$ldap_dir/slapd.conf" -l "$ldap_dir/tree.ldif" >&2 \
    || { log "slapadd could not load the test tree"; exit 1; }
  setsid /usr/sbin/slapd -f "$ldap_dir/slapd.conf" -h "ldap://127.0.0.1:$ldap_port/" </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 30); do ldap_up && break; sleep 1; done
fi
ldap_up || { log "slapd did not come up on 127.0.0.1:$ldap_port"; exit 1; }
log "OpenLDAP (slapd) is up on 127.0.0.1:$ldap_port"

# Debian's Chromium (headless) with a CJK font, and playwright-core to drive it, for the
# browser test of the web UI.
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "wenquanyi"; then
  log "installing Chromium and a CJK font from Debian's packages"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >&2
fi
command -v chromium >/dev/null 2>&1 || { log "chromium is not installed"; exit 1; }
browser_dir="$(cd "$(dirname "$0")" && pwd)/browser"
if [ ! -d "$browser_dir/node_modules/playwright-core" ]; then
  log "installing playwright-core for the browser test"
  (cd "$browser_dir" && npm ci --no-audit --no-fund --silent >&2) || { log "npm ci in $browser_dir failed"; exit 1; }
fi

# node-postgres with pg-cursor and pg-query-stream, for the compatibility suite.
clients_dir="$(cd "$(dirname "$0")" && pwd)/clients"
if [ ! -d "$clients_dir/node_modules/pg-query-stream" ]; then
  log "installing node-postgres, pg-cursor and pg-query-stream for the client suite"
  (cd "$clients_dir" && npm ci --no-audit --no-fund --silent >&2) || { log "npm ci in $clients_dir failed"; exit 1; }
fi

# The newest Apache Superset release, for its SQL Lab and chart check
# (scripts/superset_check.sh, run by crates/cli/tests/it/pg_clients.rs).
scripts_dir="$(cd "$(dirname "$0")" && pwd)"
"$scripts_dir/superset_check.sh" --install || { log "installing Apache Superset failed"; exit 1; }

echo "export MEDLAKE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306"
echo "export MEDLAKE_TEST_BINLOG_URL=mysql://root@127.0.0.1:$binlog_port"
echo "export MEDLAKE_TEST_KAFKA=127.0.0.1:$kafka_port"
echo "export MEDLAKE_TEST_PYTHON=$venv/bin/python"
echo "export MEDLAKE_TEST_POSTGRES_URL=postgres://root@127.0.0.1:5432/postgres"
echo "export MEDLAKE_TEST_LDAP_URL=ldap://127.0.0.1:$ldap_port"
echo "export MEDLAKE_TEST_LDAP_DIR=$ldap_dir"
echo "export MEDLAKE_TEST_OPENLINEAGE_SPEC=$openlineage_spec"
echo "export MEDLAKE_TEST_ORTHANC_PLUGIN=$orthanc_plugin"
