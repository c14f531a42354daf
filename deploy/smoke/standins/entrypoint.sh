#!/bin/sh
# Entrypoint of the backend stand-in images (see Containerfile): the official images'
# environment variables, then the server in the foreground as PID 1.
set -eu
role=$1; shift

case $role in
postgres)
    if [ "${1:-postgres}" != postgres ]; then exec "$@"; fi
    [ "$#" -gt 0 ] && shift
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    sockets=/var/run/postgresql
    [ -w "$sockets" ] || sockets=/tmp
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        pwfile=$(mktemp)
        printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
        initdb --username="$user" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
        rm -f "$pwfile"
        echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
        if [ "$db" != postgres ]; then
            # single-user mode: no server listens while the database is created
            echo "CREATE DATABASE \"$db\" OWNER \"$user\"" \
                | postgres --single -D "$PGDATA" -c listen_addresses='' postgres >/dev/null
        fi
        echo "standin-postgres: initialised $PGDATA (user $user, database $db)"
    fi
    exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories="$sockets" "$@"
    ;;
redis)
    exec "$@"
    ;;
rabbitmq)
    # what the official image's variables mean, as rabbitmq.conf (RabbitMQ 3.10 reads it)
    {
        echo "loopback_users = none"
        echo "listeners.tcp.default = 5672"
        [ -n "${RABBITMQ_DEFAULT_USER:-}" ] && echo "default_user = $RABBITMQ_DEFAULT_USER"
        [ -n "${RABBITMQ_DEFAULT_PASS:-}" ] && echo "default_pass = $RABBITMQ_DEFAULT_PASS"
        [ -n "${RABBITMQ_DEFAULT_VHOST:-}" ] && echo "default_vhost = $RABBITMQ_DEFAULT_VHOST"
        true
    } > "$RABBITMQ_CONFIG_FILE"
    chmod 600 "$RABBITMQ_CONFIG_FILE"
    # Debian's /usr/sbin/rabbitmq-server wrapper neither execs nor logs to stdout: run the
    # real script, which stops the node cleanly on SIGTERM
    if [ "${1:-}" = rabbitmq-server ]; then
        shift
        exec /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
    fi
    exec "$@"
    ;;
nginx)
    exec "$@"
    ;;
prometheus)
    case ${1:-} in
    -*|"") exec prometheus "$@" ;;
    *) exec "$@" ;;
    esac
    ;;
*)
    echo "standin-entrypoint: unknown role $role" >&2
    exit 2
    ;;
esac
