#!/usr/bin/env bash
# Runs web + Celery worker + beat in the foreground; Ctrl-C stops all three.
set -uo pipefail
PORT="${1:-8000}"
PY=.venv/bin/python
mkdir -p .data/logs
$PY -m celery -A ekr worker --loglevel=INFO --concurrency=2 > .data/logs/worker.log 2>&1 &
WORKER=$!
$PY -m celery -A ekr beat --loglevel=INFO --schedule .data/celerybeat-schedule > .data/logs/beat.log 2>&1 &
BEAT=$!
trap 'kill $WORKER $BEAT 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
$PY manage.py demo_seed --print-only --port "$PORT"
echo "worker log: .data/logs/worker.log   beat log: .data/logs/beat.log"
$PY manage.py runserver "0.0.0.0:${PORT}"
