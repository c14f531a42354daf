#!/usr/bin/env bash
# Restore a dump written by scripts/backup.sh into an empty PostgreSQL database, in one
# transaction (a failure leaves the target as it was), then bring the schema to this build's
# head with `openmmo migrate`, and say how long it all took. docs/howto/backup.md.
#
#   createdb -h newdb openmmo
#   scripts/restore.sh backups/openmmo-20250101T021500Z.dump postgresql://openmmo:pw@newdb/openmmo
set -euo pipefail
PROG=restore.sh
# shellcheck source=lib/postgres.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/postgres.sh"

usage() {
  cat <<EOF
Usage: $PROG [--force] [--no-migrate] DUMP [TARGET_URL]

Restore DUMP (a .dump file of backup.sh; its .json manifest, when next to it, is checked)
into TARGET_URL (default: DATABASE_URL, else DB_*), an existing, empty database, with
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction; then run
\`openmmo migrate\` on it when openmmo is on PATH.

  --force       (or RESTORE_FORCE=1) restore into a database that is not empty: what the
                dump holds is dropped and recreated (pg_restore --clean --if-exists);
                anything else in the database stays
  --no-migrate  do not run \`openmmo migrate\` afterwards
  -h, --help    this text

TARGET_URL: postgresql://, postgres:// or SQLAlchemy's postgresql+asyncpg://.
Exit codes: 0 done, 1 failed, 2 bad arguments, 3 a tool is missing, 4 refused (target not
empty, no --force).
EOF
}

force=${RESTORE_FORCE:-0}
migrate=1
positional=()
while (($#)); do
  case $1 in
    --force) force=1 && shift ;;
    --no-migrate) migrate=0 && shift ;;
    -h | --help) usage && exit 0 ;;
    --) shift && positional+=("$@") && break ;;
    -*) usage_error "unknown option: $1" ;;
    *) positional+=("$1") && shift ;;
  esac
done
((${#positional[@]} >= 1)) || usage_error "which dump? (DUMP is missing)"
((${#positional[@]} <= 2)) || usage_error "too many arguments"
[[ $force == 0 || $force == 1 ]] || usage_error "RESTORE_FORCE must be 0 or 1, not '$force'"
dump=${positional[0]}
target=${positional[1]:-}
[[ -f $dump && -r $dump ]] || usage_error "$dump: no such readable file"
require_tools pg_restore psql sha256sum awk
database_target "$target"
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}
start=$EPOCHREALTIME

manifest=${dump%.dump}.json
if [[ -f $manifest ]]; then
  expected=$(sed -n 's/^[[:space:]]*"sha256":[[:space:]]*"\([0-9a-f]*\)".*/\1/p' "$manifest")
  read -r actual _ < <(sha256sum -- "$dump")
  [[ $expected == "$actual" ]] ||
    die 1 "$dump does not match its manifest (sha256 $actual, $manifest says ${expected:-nothing}): a damaged or replaced file"
else
  echo "$PROG: no manifest next to $dump: its checksum is not checked" >&2
fi
pg_restore --list -- "$dump" >/dev/null || die 1 "$dump is not a dump pg_restore can read"

# Tables, views, sequences of the target outside the system schemas.
relations=$(psql --no-psqlrc --no-password --quiet --tuples-only --no-align \
  --set ON_ERROR_STOP=1 --dbname="$PG_URL" --command "
  SELECT count(*) FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_(toast|temp)'") ||
  die 1 "cannot reach the target $PG_SHOWN (its message is above); create the database first (createdb)"
clean=()
if ((relations > 0)); then
  ((force)) ||
    die 4 "refusing to restore into $PG_SHOWN: it is not empty ($relations tables, views or sequences). Restore into a new database, or pass --force (RESTORE_FORCE=1) to replace what the dump holds"
  clean=(--clean --if-exists)
  echo "$PROG: --force: replacing the dump's objects in $PG_SHOWN ($relations relations there)" >&2
fi

# Ownership and grants are left out: the restoring user owns everything, as the user
# OpenMMO connects with must (roles of the old server need not exist on the new one).
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --no-password \
  "${clean[@]}" --dbname="$PG_URL" -- "$dump" ||
  die 1 "pg_restore into $PG_SHOWN failed (its message is above); the transaction was rolled back"
restore_s=$(since "$start")

migrate_s=0
if ((migrate)) && command -v openmmo >/dev/null 2>&1; then
  migrate_start=$EPOCHREALTIME
  if [[ -n $target ]]; then
    DATABASE_URL=$target openmmo migrate || die 1 "openmmo migrate on $PG_SHOWN failed"
  else
    openmmo migrate || die 1 "openmmo migrate on $PG_SHOWN failed"
  fi
  migrate_s=$(since "$migrate_start")
elif ((migrate)); then
  echo "$PROG: openmmo is not on PATH: run \`openmmo migrate\` on $PG_SHOWN before starting servers" >&2
fi

echo "$PROG: restored $dump into $PG_SHOWN in $(since "$start") s (pg_restore ${restore_s} s, migrate ${migrate_s} s)"
