#!/usr/bin/env bash
# Make sure the machine's PostgreSQL, Redis and RabbitMQ answer on their usual loopback ports;
# start the ones that do not (the same commands the machine uses at boot). Never stops anything.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # name port seconds
  for _ in $(seq 1 $(($3 * 4))); do up "$2" && return 0; sleep 0.25; done
  echo "services: $1 did not come up on port $2" >&2
  return 1
}

if ! up 5432; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  wait_for postgresql 5432 30
fi
if ! up 6379; then
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for redis 6379 30
fi
if ! up 5672; then
  echo "services: starting RabbitMQ"
  rabbitmq-server -detached
  wait_for rabbitmq 5672 90
fi
for tool in psql redis-server rabbitmq-server runuser; do
  command -v "$tool" >/dev/null || { echo "services: $tool is missing" >&2; exit 1; }
done
echo "services: PostgreSQL, Redis and RabbitMQ are up"
