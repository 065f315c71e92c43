#!/bin/bash
# Runs read_report_test.py with Debian's python3 (python3-protobuf), which
# may not be the first python3 on PATH (pyenv shims).
set -u
export KTVM_READ_REPORT=$1 KTVM_PB2_DIR=$(dirname "$3") KTVM_DUMPVIEW=$4
export KTVM_FIXTURE_BINARY=$5 KTVM_FIXTURE_JSON=$6
PYTHON=/usr/bin/python3
if ! "$PYTHON" -c 'import google.protobuf' 2>/dev/null; then
  echo "SKIP: $PYTHON has no google.protobuf (apt-get install python3-protobuf; tools/setup.sh does)"
  exit 0
fi
exec "$PYTHON" "$2"
