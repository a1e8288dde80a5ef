#!/usr/bin/env bash
# Run iot-anomaly on its schedules: a local Prefect server (SQLite in .prefect/), the process
# work pool, both deployments of prefect.yaml and a worker.
#   bash scripts/orchestrate.sh up      # start everything (UI at http://127.0.0.1:4200)
#   bash scripts/orchestrate.sh status  # what runs
#   bash scripts/orchestrate.sh down    # stop the worker, then the server (SIGTERM)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

PORT=${IOT_ANOMALY_PREFECT_PORT:-4200}
POOL=iot-anomaly
RUN=.prefect/run
export PREFECT_API_URL="http://127.0.0.1:${PORT}/api"
mkdir -p "$RUN"

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

stop() {  # SIGTERM to the process group (the worker's flow runs too); force after 2 minutes
  if alive "$1"; then
    local pid; pid=$(cat "$RUN/$1.pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 240); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "$1 (pid $pid) did not stop on SIGTERM; killing it" >&2
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
    fi
    echo "stopped $1 (pid $pid)"
  fi
  rm -f "$RUN/$1.pid"
}

case "${1:-}" in
  up)
    # Job control: each background process leads its own process group, and SIGINT is not
    # ignored in it (Prefect turns SIGTERM into SIGINT to shut down).
    set -m
    if ! alive server; then
      prefect server start --host 127.0.0.1 --port "$PORT" >"$RUN/server.log" 2>&1 &
      echo $! >"$RUN/server.pid"
    fi
    for _ in $(seq 120); do
      curl -fsS "$PREFECT_API_URL/health" >/dev/null 2>&1 && break; sleep 0.5
    done
    curl -fsS "$PREFECT_API_URL/health" >/dev/null || { echo "server did not start; see $RUN/server.log" >&2; exit 1; }
    prefect work-pool inspect "$POOL" >/dev/null 2>&1 || prefect work-pool create "$POOL" --type process >/dev/null
    prefect work-pool set-concurrency-limit "$POOL" 2 >/dev/null
    prefect deploy --all --no-prompt >"$RUN/deploy.log" 2>&1 || { cat "$RUN/deploy.log" >&2; exit 1; }
    if ! alive worker; then
      prefect worker start --pool "$POOL" >"$RUN/worker.log" 2>&1 &
      echo $! >"$RUN/worker.pid"
    fi
    echo "Prefect UI: http://127.0.0.1:${PORT}  (logs in $RUN/)"
    prefect deployment ls
    ;;
  status)
    for p in server worker; do alive "$p" && echo "$p: running (pid $(cat "$RUN/$p.pid"))" || echo "$p: stopped"; done
    ;;
  down)
    stop worker
    stop server
    ;;
  *)
    echo "usage: $0 up | status | down" >&2; exit 2 ;;
esac
