#!/usr/bin/env bash
# Interchange with the real tools: Keras 3 on TensorFlow, ONNX Runtime and tritonclient against a real
# `sequent serve` (Tests/interop/test_interop.py). Models trained in Keras are uploaded and must predict the same;
# a model trained in Sequent is exported as .keras and as ONNX and must predict the same in Keras and ONNX Runtime;
# the v2 protocol is driven by tritonclient.http unchanged.
#
#   scripts/test-interop.sh          # installs the venv when missing (a few hundred MB from PyPI), builds, runs
#
# Environment: SEQUENT_SCRATCH_PATH (swift build --scratch-path, default .build), SEQUENT_INTEROP_VENV (default
# .venv-interop). Exits with pytest's status and prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STARTED=$SECONDS
SCRATCH=${SEQUENT_SCRATCH_PATH:-.build}
VENV=${SEQUENT_INTEROP_VENV:-$ROOT/.venv-interop}

if ! "$VENV/bin/python" -c 'import tensorflow, keras, onnxruntime, onnx, tritonclient.http, pytest' >/dev/null 2>&1; then
  echo "installing tensorflow-cpu, keras, onnxruntime, onnx, tritonclient[http] and pytest into $VENV…"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    tensorflow-cpu keras onnxruntime onnx 'tritonclient[http]' pytest numpy
fi
[ -f "$VENV/.gitignore" ] || printf '*\n' > "$VENV/.gitignore"   # never committed
echo "venv ready after $((SECONDS - STARTED)) s"

# One build for the server and the ONNX fixture test below.
. scripts/lib/serve.sh
build_sequent "$SCRATCH" --build-tests
DATA=$(mktemp -d -t sequent-interop.XXXXXX)
cleanup() { stop_sequent; rm -rf "$DATA"; }
trap cleanup EXIT
start_sequent "$BIN" "$DATA" --workers 1
export SEQUENT_URL="http://127.0.0.1:$PORT"
echo "sequent serve on $SEQUENT_URL (pid $SERVER_PID)"

set +e
TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow "$VENV/bin/python" -m pytest -q -p no:cacheprovider Tests/interop "$@"
STATUS=$?
set -e
if [ "$STATUS" -ne 0 ]; then echo "--- server log (last 40 lines) ---"; tail -n 40 "$DATA/server.log"; fi

# Every layer and activation the ONNX exporter maps, in small models with random weights: Sequent's outputs
# (written by the Swift test) against ONNX Runtime's.
FIXTURES="$DATA/onnx-fixtures"
mkdir -p "$FIXTURES"
set +e
SEQUENT_ONNX_FIXTURES="$FIXTURES" swift test --skip-build ${SEQUENT_SCRATCH_PATH:+--scratch-path "$SCRATCH"} --filter ONNXExportTests >/dev/null \
  && "$VENV/bin/python" scripts/onnx_roundtrip.py "$FIXTURES"
ONNX_STATUS=$?
set -e
[ "$ONNX_STATUS" -eq 0 ] || STATUS=$ONNX_STATUS
echo "interop test: exit $STATUS in $((SECONDS - STARTED)) s"
exit "$STATUS"
