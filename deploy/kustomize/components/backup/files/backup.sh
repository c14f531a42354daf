#!/usr/bin/env bash
# Back up the world's PostgreSQL database (accounts, characters, items and their ledger): a
# logical dump of one consistent snapshot (pg_dump --format=custom), a JSON manifest next to
# it, a check that pg_restore can read it, and the oldest dumps beyond BACKUP_KEEP removed.
# Run every 15 minutes (the Helm chart's backup CronJob) for an RPO of 15 minutes plus the
# dump's duration. docs/howto/backup.md has the procedure, the figures and WAL archiving.
#
#   DATABASE_URL=postgresql+asyncpg://openmmo:pw@db:5432/openmmo scripts/backup.sh
#   scripts/backup.sh --dir /backups --keep 96
set -euo pipefail
PROG=backup.sh
# shellcheck source=lib/postgres.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/postgres.sh"

usage() {
  cat <<EOF
Usage: $PROG [--dir DIR] [--keep N]

Dump the PostgreSQL database of DATABASE_URL into DIR as DATABASE-YYYYMMDDTHHMMSSZ.dump
(pg_dump --format=custom) with a .json manifest (time, database, size, sha256, versions),
check it with pg_restore --list, and delete all but the newest N dumps of that database.

  --dir DIR   where dumps go (default: BACKUP_DIR, else ./backups)
  --keep N    dumps kept (default: BACKUP_KEEP, else 96: one day at one every 15 minutes)
  -h, --help  this text

Database: DATABASE_URL (postgresql://, postgres:// or SQLAlchemy's postgresql+asyncpg://),
else DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD as OpenMMO reads them.
Exit codes: 0 done, 1 failed, 2 bad arguments or settings, 3 a tool is missing.
EOF
}

dir=${BACKUP_DIR:-./backups}
keep=${BACKUP_KEEP:-96}
while (($#)); do
  case $1 in
    --dir)
      (($# >= 2)) || usage_error "--dir needs a directory"
      dir=$2
      shift 2
      ;;
    --dir=*) dir=${1#*=} && shift ;;
    --keep)
      (($# >= 2)) || usage_error "--keep needs a number"
      keep=$2
      shift 2
      ;;
    --keep=*) keep=${1#*=} && shift ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
done
[[ -n $dir ]] || usage_error "--dir (BACKUP_DIR) is empty"
[[ $keep =~ ^[1-9][0-9]*$ ]] || usage_error "--keep (BACKUP_KEEP) must be a whole number of at least 1, not '$keep'"
require_tools pg_dump pg_restore sha256sum awk
database_target
# Never prompt for a password (a CronJob has nobody to answer), and give up on a dead host.
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}

mkdir -p -- "$dir" || die 1 "cannot create $dir"
base=${PG_DATABASE//[^A-Za-z0-9_.-]/_}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
dump="$dir/$base-$stamp.dump"
manifest="$dir/$base-$stamp.json"
[[ ! -e $dump ]] || die 1 "$dump exists already: one backup per second at most"
trap 'rm -f -- "$dump.partial" "$manifest.partial"' EXIT

# pg_dump reads everything in one REPEATABLE READ transaction: the dump is the database as it
# was when it started, whatever is written meanwhile. It waits at most 60 s for a table lock
# (a migration running), rather than queueing every later query of the world behind it.
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
start=$EPOCHREALTIME
pg_dump --format=custom --no-password --lock-wait-timeout=60s \
  --file="$dump.partial" --dbname="$PG_URL" ||
  die 1 "pg_dump of $PG_SHOWN failed (its message is above); no backup was written"
dump_s=$(since "$start")

toc=$(pg_restore --list -- "$dump.partial") ||
  die 1 "pg_restore cannot read the dump of $PG_SHOWN; no backup was written"
tables=$(grep -c ' TABLE DATA ' <<<"$toc" || true)
server_version=$(sed -n 's/^;[[:space:]]*Dumped from database version: \([^ ]*\).*/\1/p' <<<"$toc")
dump_version=$(pg_dump --version | awk '{ print $3 }')
size=$(stat -c %s -- "$dump.partial")
read -r sha256 _ < <(sha256sum -- "$dump.partial")

cat >"$manifest.partial" <<EOF
{
  "file": $(json_string "$(basename -- "$dump")"),
  "database": $(json_string "$PG_DATABASE"),
  "started_at": "$started_at",
  "finished_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "duration_s": $dump_s,
  "size_bytes": $size,
  "sha256": "$sha256",
  "tables": $tables,
  "format": "custom",
  "pg_dump_version": $(json_string "$dump_version"),
  "server_version": $(json_string "$server_version")
}
EOF
mv -- "$dump.partial" "$dump"
mv -- "$manifest.partial" "$manifest"

# Keep the newest $keep dumps of this database (the names sort by time).
shopt -s nullglob
dumps=("$dir/$base"-[0-9]*T[0-9]*Z.dump)
pruned=0
for ((i = 0; i < ${#dumps[@]} - keep; i++)); do
  rm -f -- "${dumps[i]}" "${dumps[i]%.dump}.json"
  pruned=$((pruned + 1))
done

echo "$PROG: $dump: $size bytes, $tables tables, ${dump_s} s, sha256 $sha256 (from $PG_SHOWN, PostgreSQL ${server_version:-?}); pruned $pruned, kept $((${#dumps[@]} - pruned))"
