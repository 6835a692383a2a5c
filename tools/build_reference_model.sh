#!/usr/bin/env bash
# Rebuild the reference package models/dagm-unet from nothing, in one command, on a CPU:
#   generate the data set -> train -> export (ONNX, IR FP32, IR INT8) -> choose the threshold on the
#   validation split -> evaluate FP32 and INT8 on the Test split (figures into the manifest and model card).
# Needs the 'train' extra (pip install torch==2.13.0 first for the CPU build, then pip install -e '.[train]').
# Usage: tools/build_reference_model.sh [DATA_DIR] [RUN_DIR] [PACKAGE_DIR]
set -euo pipefail

DATA=${1:-data/dagm-synth}
RUN=${2:-runs/dagm-unet}
PACKAGE=${3:-models/dagm-unet}
RULE=${CHOOSE_RULE:-precision>=0.995}

started=$(date +%s)
[ -f "$DATA/dataset.json" ] || edge-inspect dataset "$DATA" --seed 2007
edge-inspect train --dataset "$DATA" --out "$RUN" --epochs 6 --steps 250 --patience 3 --seed 0
minutes=$(( ($(date +%s) - started) / 60 ))
edge-inspect export --checkpoint "$RUN/best.pt" --dataset "$DATA" --out "$PACKAGE" \
    --wall-time "${minutes} min for data + training on $(nproc) CPU cores" \
    --reproduce "tools/build_reference_model.sh $DATA $RUN $PACKAGE"
# The operating threshold comes from the validation split carved from Train (never from Test).
edge-inspect eval --model "$PACKAGE" --dataset "$RUN/validation" --quiet --choose "$RULE" \
    --record validation_int8 --json "$RUN/validation_int8.json"
for variant in fp32 int8; do
    edge-inspect eval --model "$PACKAGE" --dataset "$DATA" --split test --variant "$variant" --quiet \
        --record "test_$variant" --json "$RUN/test_$variant.json" --plot "$PACKAGE/plots/pr_test_$variant.png"
done
edge-inspect eval --model "$PACKAGE" --dataset models/dagm-sample --quiet --record sample_int8
echo "done in $(( ($(date +%s) - started) / 60 )) min: $PACKAGE"
