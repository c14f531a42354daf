# Shared by scripts/backup.sh and scripts/restore.sh (sourced, not run): messages, tool checks,
# timing, and turning the database settings OpenMMO reads (DATABASE_URL in SQLAlchemy form, or
# DB_HOST/DB_PORT/DB_NAME/DB_USER/DB_PASSWORD) into what the libpq tools take.
#
# Exit codes of both scripts: 0 done, 1 failed (database unreachable, dump unreadable, ...),
# 2 bad arguments or settings (usage printed), 3 a tool is missing, 4 refused (restore into a
# database that is not empty, without --force).

die() {  # CODE MESSAGE...
  local code=$1
  shift
  printf '%s: %s\n' "$PROG" "$*" >&2
  exit "$code"
}

usage_error() {  # MESSAGE...
  printf '%s: %s\n\n' "$PROG" "$*" >&2
  usage >&2
  exit 2
}

require_tools() {  # TOOL...
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 ||
      die 3 "$tool not found on PATH: install the PostgreSQL client tools (Debian: apt-get install postgresql-client)"
  done
}

since() {  # START (an $EPOCHREALTIME): seconds elapsed, two decimals
  awk -v start="$1" -v now="$EPOCHREALTIME" 'BEGIN { printf "%.2f", now - start }'
}

json_string() {  # VALUE: a JSON string literal
  local value=${1//\\/\\\\}
  value=${value//\"/\\\"}
  printf '"%s"' "$value"
}

percent_decode() {  # VALUE: %XX escapes decoded (backslashes kept as they are)
  local value=${1//\\/\\\\}
  printf '%b' "${value//%/\\x}"
}

# asyncpg spells libpq's sslmode `ssl`; everything else in the query is passed on as it is.
_libpq_query() {  # QUERY (without "?")
  local out="" param mode
  local -a params
  IFS='&' read -r -a params <<<"$1"
  for param in "${params[@]}"; do
    if [[ $param == ssl=* ]]; then
      mode=${param#ssl=}
      case ${mode,,} in
        true) mode=require ;;
        false) mode=disable ;;
      esac
      param="sslmode=$mode"
    fi
    out+="${out:+&}$param"
  done
  printf '%s' "$out"
}

# database_target [URL]: the database to work on, from URL, else DATABASE_URL, else DB_*.
# Sets PG_URL (a libpq URI, without the password), PG_SHOWN (the same, safe to print) and
# PG_DATABASE (the database name), and exports PGPASSWORD when there is a password: on the
# command line it would be visible to every process on the machine (ps).
database_target() {
  local url=${1:-${DATABASE_URL:-}}
  if [[ -z $url ]]; then
    [[ -n ${DB_HOST:-} ]] || usage_error "no database: set DATABASE_URL (or DB_HOST and the other DB_* settings)"
    export PGHOST=$DB_HOST PGPORT=${DB_PORT:-5432} PGDATABASE=${DB_NAME:-openmmo}
    export PGUSER=${DB_USER:-openmmo}
    [[ -z ${DB_PASSWORD:-} ]] || export PGPASSWORD=$DB_PASSWORD
    PG_URL="postgresql://"  # every part from the PG* variables
    PG_SHOWN="postgresql://$PGUSER@$PGHOST:$PGPORT/$PGDATABASE"
    PG_DATABASE=$PGDATABASE
    return
  fi
  [[ $url == *://* ]] || usage_error "not a database URL (expected postgresql://...)"
  local scheme=${url%%://*} rest=${url#*://}
  case ${scheme,,} in
    postgresql | postgres | postgresql+* | postgres+*) ;;
    *) usage_error "a $scheme URL is not PostgreSQL: only PostgreSQL is backed up by these scripts" ;;
  esac
  local authority=${rest%%[/?]*}
  local tail=${rest:${#authority}} user="" query=""
  if [[ $authority == *@* ]]; then
    user=${authority%@*}
    authority=${authority##*@}
    if [[ $user == *:* ]]; then
      export PGPASSWORD
      PGPASSWORD=$(percent_decode "${user#*:}")
      user=${user%%:*}
    fi
  fi
  if [[ $tail == *\?* ]]; then
    query=$(_libpq_query "${tail#*\?}")
    tail=${tail%%\?*}
  fi
  PG_DATABASE=$(percent_decode "${tail#/}")
  PG_DATABASE=${PG_DATABASE:-${user:-postgres}}
  PG_URL="postgresql://${user:+$user@}$authority$tail${query:+?$query}"
  PG_SHOWN=$PG_URL
}
