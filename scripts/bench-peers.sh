#!/usr/bin/env bash
# Side-by-side speed: Sequent against Keras (TensorFlow), PyTorch (with and without channels-last) and ONNX
# Runtime on the same recipes, 2 threads, in one sitting: for each recipe Sequent runs first and last and the peers
# in between (A B C … A), so the ratios come from the same minutes of a shared, noisy machine.
#   training: samples/s at batch 32 (Sequent: `sequent bench`; peers: ../shared/bench/{keras,torch}_bench.py)
#   inference: single-image p50/p99 ms and batch-N samples/s, N = 1, 32, 256 (1 and 32 for the 300×300 net)
#              (Sequent: the same `sequent bench` run; peers: scripts/peers/{infer,onnx}_bench.py)
#
#   PEERS=/work/peers/bin/python EPOCHS=2 scripts/bench-peers.sh
#   RECIPES="cnn hh300" PEER_TRAINING=0 scripts/bench-peers.sh     # inference peers only (Sequent still trains)
#
#   ISA=avx2 scripts/bench-peers.sh    # an AVX2 sitting on an AVX-512 machine: Sequent's kernels and OpenBLAS
#       capped at AVX2 (SEQUENT_CONV2D_LEVEL=1, OPENBLAS_CORETYPE=Haswell), PyTorch too (ATEN_CPU_CAPABILITY=avx2,
#       ONEDNN_MAX_CPU_ISA=AVX2, which TensorFlow's oneDNN reads as well). ONNX Runtime has no such switch: its
#       MLAS picks AVX-512 from CPUID, so in this sitting it runs with the wider kernels (a harder peer).
#
# Prints every result as a JSON line as it comes (also appended to $OUT, default bench-results/peers-DATE.jsonl),
# then one table of ratios (Sequent ÷ peer, Sequent's median of its runs): scripts/peers-table.py, which redraws it
# from a kept file. The peers' stderr goes to $OUT.log.
#
# Needs a release build (swift build -c release) and the peers' venv, CPU torch from the local wheel (PyPI's
# default torch is the 3 GB CUDA build):
#   python3 -m venv /work/peers && /work/peers/bin/pip install /opt/wheels/torch-2.13.0+cpu-*.whl \
#       tensorflow-cpu keras numpy threadpoolctl onnx onnxruntime
# Not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/openblas-core.sh
ISA=${ISA:-native}
case "$ISA" in
native) ;;
avx2)
    export SEQUENT_CONV2D_LEVEL=1 OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
    ;;
*) echo "ISA is native or avx2, not $ISA" >&2; exit 2 ;;
esac
export_openblas_core
PEERS=${PEERS:-/work/peers/bin/python}
BENCH=${BENCH:-../shared/bench}
EPOCHS=${EPOCHS:-2}
PEER_TRAINING=${PEER_TRAINING:-1}
STEPS=$((1875 * EPOCHS))
OUT=${OUT:-bench-results/peers-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
LOG=$OUT.log
mkdir -p "$(dirname "$OUT")"
export SHARED_BENCH=$BENCH
echo "ISA=$ISA, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, results in $OUT" >&2

# Runs a peer command and keeps its last line (its JSON result); a failing peer is reported and skipped.
keep() {
    local line
    if line=$("$@" 2>>"$LOG" | tail -n1) && [ -n "$line" ]; then
        echo "$line" | tee -a "$OUT"
    else
        echo "warning: failed, skipped (see $LOG): $*" >&2
    fi
}
seq() { keep .build/release/sequent bench --json "$@"; }
train() {  # framework, model, args…
    [ "$PEER_TRAINING" = 1 ] || return 0
    keep "$PEERS" "$BENCH/$1_bench.py" --model "$2" --epochs "$EPOCHS" "${@:3}"
}
infer() { keep "$PEERS" scripts/peers/infer_bench.py --recipe "$@"; }
onnx() { keep "$PEERS" scripts/peers/onnx_bench.py --recipe "$1"; }

RECIPES=${RECIPES:-dense cnn}
for recipe in $RECIPES; do
    case "$recipe" in
    dense|cnn)
        model=$([ "$recipe" = dense ] && echo dense || echo cnn2)
        name=fashion-$recipe
        seq --steps "$STEPS" "config/jobs/$name.json"
        train keras "$model" --skip-predict-latency
        infer "$name" --framework keras
        train torch "$model"
        infer "$name" --framework torch
        if [ "$recipe" = cnn ]; then
            train torch "$model" --channels-last
            infer "$name" --framework torch --channels-last
        fi
        onnx "$name"
        seq --steps "$STEPS" "config/jobs/$name.json"
        ;;
    hh150|hh300)
        # The peers train on 256 random images per epoch; Sequent on a two-class folder (exported Fashion-MNIST
        # JPEGs, decoded once into its image cache). Speed only.
        size=${recipe#hh}
        spec=config/jobs/horses-or-humans.json name=horses-or-humans
        if [ "$size" = 150 ]; then spec=config/jobs/horses-or-humans-150.json name=horses-or-humans-150; fi
        [ -d data/datasets/horses-or-humans ] || .build/release/sequent export-images data/datasets/horses-or-humans \
            --classes 0,9 --format jpeg --limit 160 --size "$size" >&2
        seq --steps $((8 * EPOCHS)) --warmup 4 "$spec"
        train keras hh --size "$size" --warmup-steps 8 --skip-predict-latency
        infer "$name" --framework keras
        train torch hh --size "$size" --warmup-steps 8
        infer "$name" --framework torch
        train torch hh --size "$size" --warmup-steps 8 --channels-last
        infer "$name" --framework torch --channels-last
        onnx "$name"
        seq --steps $((8 * EPOCHS)) --warmup 4 "$spec"
        ;;
    *) echo "unknown recipe $recipe (dense, cnn, hh150, hh300)" >&2; exit 2 ;;
    esac
done
echo
python3 scripts/peers-table.py "$OUT"
