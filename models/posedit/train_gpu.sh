#!/usr/bin/env bash
# Train posedit on one GPU (H200) and produce its README figures.
#
#   models/posedit/train_gpu.sh data    # SDGPip training poses: 600 clips × 6 s at 15 fps (seed 11: the dancers
#                                       # and music of m2p's training set; the embedded test split stays unseen)
#   models/posedit/train_gpu.sh train   # VAE then DiT within MINUTES (default 6) of training, export the checkpoint
#   models/posedit/train_gpu.sh eval    # pose-level metrics on synth-test: BeatAlign own vs shuffled music, diversity
#   models/posedit/train_gpu.sh all     # the three in a row (each step stays well under 10 minutes)
#
# Writes models/posedit/checkpoints/posedit.safetensors (fp16, ~22 MB) and models/posedit/results/ (loss curves,
# per-stage logs and summaries, train log, pose_eval.json/.txt); copies them to $OUT/posedit when $OUT is set
# (the device runner's output folder).
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA=${DATA:-runs/sdgpip-posedit-15}
RUN=${RUN:-runs/posedit-tiny-gpu}
JOBS=${JOBS:-$(nproc)}
# a machine without uv (the device image): EVALKIT="python3 -m evalkit" PY=python3, evalkit on PYTHONPATH
EVALKIT=${EVALKIT:-uv run evalkit}
PY=${PY:-uv run python}
MINUTES=${MINUTES:-6}
CKPT=models/posedit/checkpoints/posedit.safetensors
RESULTS=models/posedit/results

step_data() {
  if [ ! -f "$DATA/sdgpip.json" ]; then  # only joints, music and beats are used: rgb at 128² is the cheapest render
    $EVALKIT data synth --out "$DATA" --train 600 --test 0 --seconds 6 --size 128 --fps 15 --seed 11 \
      --maps rgb --jobs "$JOBS"
  fi
}

step_train() {
  step_data
  rm -rf "$RUN"
  mkdir -p "$RESULTS" "$(dirname "$CKPT")"
  local start=$(date +%s)
  $EVALKIT train posedit --config tiny --data "$DATA" --out "$RUN" --max-minutes "$MINUTES" --jobs "$JOBS" \
    --export "$CKPT" 2>&1 | tee "$RESULTS/train.log"
  echo "posedit train step: $(( $(date +%s) - start )) s" | tee -a "$RESULTS/train.log"
  cp "$RUN/loss_curves.png" "$RESULTS/loss_curves.png"
  for s in vae dit; do
    cp "$RUN/$s/log.csv" "$RESULTS/${s}_log.csv"
    cp "$RUN/$s/summary.json" "$RESULTS/${s}_summary.json"
  done
  ls -l "$CKPT"
}

step_eval() {
  $PY -m evalkit.models.posedit.eval --split test --checkpoint "$CKPT" --out "$RESULTS/pose_eval.json" \
    | tee "$RESULTS/pose_eval.txt"
}

case "${1:-all}" in
  data) step_data ;;
  train) step_train ;;
  eval) step_eval ;;
  all) step_train; step_eval ;;
  *) echo "usage: $0 data|train|eval|all" >&2; exit 2 ;;
esac

if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT/posedit"
  cp -r "$RESULTS" "$OUT/posedit/" 2>/dev/null || true
  [ -f "$CKPT" ] && cp "$CKPT" "$OUT/posedit/"
fi
