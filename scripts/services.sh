#!/usr/bin/env bash
# The test suite talks to a real PostgreSQL (127.0.0.1:5432, trust auth) and Redis
# (127.0.0.1:6379). Starts the local Debian services when they are installed but down;
# otherwise says how to provide them.
set -euo pipefail

wait_for() {  # $1: what, $2...: a command that succeeds once it is up
  local what=$1; shift
  for _ in $(seq 30); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "$what did not come up within 30 s" >&2
  return 1
}

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    wait_for PostgreSQL pg_isready -h 127.0.0.1 -p 5432 -q
  else
    echo "PostgreSQL is not running on 127.0.0.1:5432 and is not installed here;" \
         "start one with trust auth for local connections (e.g. apt-get install postgresql)" >&2
    exit 1
  fi
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null; then
    echo "starting Redis" >&2
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
  else
    echo "Redis is not running on 127.0.0.1:6379 and is not installed here;" \
         "run: apt-get install -y redis-server && redis-server --daemonize yes" >&2
    exit 1
  fi
fi
