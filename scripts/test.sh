#!/usr/bin/env bash
# Runs the whole test suite the way CI does: on SQLite and on PostgreSQL, side by side.
# It makes sure what the tests talk to is there: Debian's chromium and a CJK font for the browser
# journey, Redis for the real Celery worker, PostgreSQL for the second run. Missing services are
# started with the commands this machine kind documents; on a machine without them the affected
# tests fail with a clear message under CI=true (never skip silently in CI).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1

step() { printf '\n== %s\n' "$*"; }

step "browser: Debian chromium and fonts"
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "WenQuanYi"; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei) \
      >/tmp/creditdesk-apt.log 2>&1 || echo "apt-get failed; see /tmp/creditdesk-apt.log"
  else
    echo "chromium is missing and cannot be installed here (needs root and apt-get)"
  fi
fi
command -v chromium && chromium --version 2>/dev/null | head -1

step "Redis on 127.0.0.1:6379"
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
fi
(exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && echo "redis: up" || echo "redis: NOT reachable"

step "RabbitMQ on 127.0.0.1:5672 (tests/faults/test_rabbitmq_worker.py; the fault tests start private redis-servers)"
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && command -v rabbitmq-server >/dev/null 2>&1; then
  rabbitmq-server -detached >/tmp/creditdesk-rabbitmq.log 2>&1 || true
  for _ in $(seq 1 30); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done
fi
(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && echo "rabbitmq: up" || echo "rabbitmq: NOT reachable"
command -v redis-server >/dev/null 2>&1 && echo "redis-server binary: $(command -v redis-server)" \
  || echo "redis-server binary: MISSING (the fault tests fail under CI=true)"

step "PostgreSQL on 127.0.0.1:5432"
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi
PG_URL="${CREDITDESK_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
if "$PY" - "$PG_URL" <<'PYEOF'
import sys, sqlalchemy
try:
    sqlalchemy.create_engine(sys.argv[1]).connect().close()
except Exception as exc:
    print("postgresql: NOT reachable:", exc)
    sys.exit(1)
print("postgresql: up")
PYEOF
then PG_OK=1; else PG_OK=0; fi

# The two passes run side by side (one core each): the PostgreSQL pass in the background with its
# own Redis database for the Celery worker tests, its output kept in a log and shown when it ends.
# The PostgreSQL pass leaves out the refused-pair matrices (tests/conftest.py REFUSED_PAIR_MATRICES),
# the SQLite pass the tests marked postgresql_only.
pg_rc=0
if [ "$PG_OK" = 1 ]; then
  PG_LOG="$(mktemp -t creditdesk-pg-tests.XXXXXX.log)"
  step "tests on PostgreSQL ($PG_URL), in the background: progress in $PG_LOG"
  CREDITDESK_TEST_DATABASE_URL="$PG_URL" CREDITDESK_TEST_REDIS_URL="redis://127.0.0.1:6379/12" \
    "$PY" -m pytest -q -p no:cacheprovider --ignore=tests/browser >"$PG_LOG" 2>&1 &
  pg_pid=$!
  trap 'kill "$pg_pid" 2>/dev/null' INT TERM  # an interrupted run stops both passes
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is required in CI but not reachable"; pg_rc=1
fi

step "tests on SQLite (embedded default)"
"$PY" -m pytest -q -p no:cacheprovider
sqlite_rc=$?

if [ "$PG_OK" = 1 ]; then
  step "tests on PostgreSQL ($PG_URL)"
  wait "$pg_pid"
  pg_rc=$?
  cat "$PG_LOG"
fi

step "summary"
echo "sqlite run exit code: $sqlite_rc; postgresql run exit code: $pg_rc"
[ "$sqlite_rc" = 0 ] && [ "$pg_rc" = 0 ]
