#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL cluster from Debian's `postgresql` package, as
# the Rust tests do (tests/support/postgres.rs): `initdb` into a temp directory, `pg_ctl start`
# on a free port of 127.0.0.1 (as the `postgres` user when run as root), trust auth, no fsync.
# The command sees NNLAB_TEST_POSTGRES=postgres://postgres@127.0.0.1:PORT (each test makes its
# own database there); the cluster is stopped and deleted when the command ends.
#   scripts/with-postgres.sh node --test tests/browser/
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)" >&2; exit 1; }
dir=$(mktemp -d -t nnlab-pg-XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$dir"
  as_pg=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
stop() {
  "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
export NNLAB_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port"
export PATH="$bin:$PATH"
"$@"
