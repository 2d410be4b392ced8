#!/usr/bin/env bash
# Side-by-side training throughput: Sequent vs Keras (TensorFlow) and PyTorch on the same recipes, batch 32,
# 2 threads, run back to back (A B C A) so the ratios come from one sitting on a shared, noisy machine.
#
#   PEERS=~/peers/bin/python EPOCHS=2 scripts/bench-peers.sh > bench-results/peers.jsonl
#   RECIPES="hh150 hh300" scripts/bench-peers.sh       # the horses-or-humans networks (images/s)
#
# Needs a release build and the peers' venv (see ../shared/bench/README.md). Prints one JSON line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-$HOME/peers/bin/python}
BENCH=${BENCH:-../shared/bench}
EPOCHS=${EPOCHS:-2}
STEPS=$((1875 * EPOCHS))
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
seq() { .build/release/sequent bench --json --steps "$STEPS" "config/jobs/$1.json"; }
peer() { "$PEERS" "$BENCH/$1_bench.py" --model "$2" --epochs "$EPOCHS" --skip-predict-latency "${@:3}" 2>/dev/null | tail -n1; }
tpeer() { "$PEERS" "$BENCH/torch_bench.py" --model "$1" --epochs "$EPOCHS" "${@:2}" 2>/dev/null | tail -n1; }

RECIPES=${RECIPES:-dense cnn}
for recipe in $RECIPES; do
    case "$recipe" in
    dense|cnn)
        model=$([ "$recipe" = dense ] && echo dense || echo cnn2)
        seq "fashion-$recipe"
        peer keras "$model"
        tpeer "$model"
        [ "$recipe" = cnn ] && tpeer "$model" --channels-last
        seq "fashion-$recipe"
        ;;
    hh150|hh300)
        # The peers train on 256 random images per epoch; Sequent on a two-class folder (exported Fashion-MNIST
        # JPEGs, decoded once into its image cache). Speed only.
        size=${recipe#hh}
        spec=config/jobs/horses-or-humans.json
        if [ "$size" = 150 ]; then spec=config/jobs/horses-or-humans-150.json; fi
        [ -d data/datasets/horses-or-humans ] || .build/release/sequent export-images data/datasets/horses-or-humans \
            --classes 0,9 --format jpeg --limit 160 --size "$size" >&2
        hh() { .build/release/sequent bench --json --steps $((8 * EPOCHS)) --warmup 4 "$spec"; }
        hh
        peer keras hh --size "$size" --warmup-steps 8
        tpeer hh --size "$size" --warmup-steps 8
        tpeer hh --size "$size" --warmup-steps 8 --channels-last
        hh
        ;;
    *) echo "unknown recipe $recipe (dense, cnn, hh150, hh300)" >&2; exit 2 ;;
    esac
done
