#!/usr/bin/env bash
# run.sh [ARGS...]: installs missing build packages, builds porch and runs it with ARGS.
# With no ARGS it opens the window; any CLI command works too: scripts/run.sh peers --json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
mkdir -p bin
go build -o bin/porch .
exec bin/porch "$@"
