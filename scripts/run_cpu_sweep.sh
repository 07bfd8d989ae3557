#!/usr/bin/env bash
# Run (or resume) the cpu profile's sweep in the background, logging to $LOG.
cd "$(dirname "$0")/.."
LOG=${LOG:-/tmp/sweep.log}
export DATA_DIR=${DATA_DIR:-./data}
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} nohup setsid .venv/bin/python -m lib.studies.sweep --profile "${PROFILE:-cpu}" >> "$LOG" 2>&1 &
echo $! > /tmp/sweep.pid
