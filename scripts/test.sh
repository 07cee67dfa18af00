#!/usr/bin/env bash
# Start the services the tests talk to (when they are not already running), then run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done
fi

export OMP_THREAD_LIMIT=1
export SOHOA_TEST_PG_URL="${SOHOA_TEST_PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
export SOHOA_TEST_REDIS_URL="${SOHOA_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

echo "== ruff"
$BIN/ruff check .
echo "== pytest"
exec $BIN/python -m pytest "$@"
