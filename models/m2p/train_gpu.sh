#!/usr/bin/env bash
# Train the tiny m2p checkpoint on one GPU (H200) and produce the README figures.
#
#   models/m2p/train_gpu.sh data    # SDGPip training set: 600 clips × 6 s, 128², 10 fps   (~1 min on 16 cores)
#   models/m2p/train_gpu.sh train   # stages 0,2,1,3 within $MINUTES of training, export tiny.safetensors
#                                   # (INIT=ckpt: warm start, e.g. the 128² tiny from the 64² checkpoint)
#   models/m2p/train_gpu.sh eval    # 20-s continuity figure, M2PEnc pose sync, controls table (own / shifted / static)
#   models/m2p/train_gpu.sh paper   # the paper route (stages 2, 3 with M2PEnc's guidance) from the committed tiny:
#                                   # export tiny-paper.safetensors, the m2p-paper generator's checkpoint
#   models/m2p/train_gpu.sh all     # the three in a row
#
# Each step stays under 10 minutes. Results land in models/m2p/ (checkpoint, loss curves, logs, results) and,
# when $OUT is set (the device runner's output folder), are copied there too.
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA=${DATA:-runs/sdgpip-train-128}
RUN=${RUN:-runs/m2p-tiny-gpu}
JOBS=${JOBS:-$(nproc)}
# a machine without uv (the device image): EVALKIT="python3 -m evalkit" PY=python3, evalkit on PYTHONPATH
EVALKIT=${EVALKIT:-uv run evalkit}
PY=${PY:-uv run python}
MINUTES=${MINUTES:-8}
CLIPS=${CLIPS:-600}  # training clips (loading 600 takes ~2 min on 16 cores)
INIT=${INIT:-}
CKPT=models/m2p/checkpoints/tiny.safetensors
RESULTS=models/m2p/results

step_data() {
  if [ ! -f "$DATA/sdgpip.json" ]; then
    # training dancers/music from seed 11; the embedded test split (seed 0) stays unseen
    $EVALKIT data synth --out "$DATA" --train "$CLIPS" --test 0 --seconds 6 --size 128 --fps 10 --seed 11 \
      --maps rgb,depth,semantic,skeleton --jobs "$JOBS"
  fi
}

step_train() {
  step_data
  rm -rf "$RUN"; mkdir -p "$(dirname "$RUN")"  # tee writes $RUN.log beside the run folder
  $EVALKIT train m2p --config tiny --stage 0,2,1,3 --data "$DATA" --out "$RUN" ${INIT:+--init "$INIT"} \
    --max-minutes "$MINUTES" --jobs "$JOBS" --export "$CKPT" 2>&1 | tee "$RUN.log"
  mkdir -p "$RESULTS"
  cp "$RUN/loss_curves.png" "$RESULTS/loss_curves.png"
  for s in 0 1 2 3; do
    cp "$RUN/stage$s/log.csv" "$RESULTS/stage${s}_log.csv"
    cp "$RUN/stage$s/summary.json" "$RESULTS/stage${s}_summary.json"
  done
  cp "$RUN.log" "$RESULTS/train.log"
  ls -l "$CKPT"
}

step_paper() {
  step_data
  local run=${RUN}-paper
  rm -rf "$run"; mkdir -p "$(dirname "$run")"
  $EVALKIT train m2p --config tiny --route paper --stage 2,3 --data "$DATA" --out "$run" --init "$CKPT" \
    --max-minutes "$MINUTES" --jobs "$JOBS" --export models/m2p/checkpoints/tiny-paper.safetensors 2>&1 | tee "$run.log"
  mkdir -p "$RESULTS/paper"
  for s in 2 3; do
    cp "$run/stage$s-paper/log.csv" "$RESULTS/paper/stage${s}_log.csv"
    cp "$run/stage$s-paper/summary.json" "$RESULTS/paper/stage${s}_summary.json"
  done
  cp "$run.log" "$RESULTS/paper/train.log"
}

step_eval() {
  $PY -m evalkit.models.m2p.evaluate continuity --checkpoint "$CKPT" --out "$RESULTS"
  $PY -m evalkit.models.m2p.evaluate pose --checkpoint "$CKPT" --out "$RESULTS"
  # the controls score with BlazePose (mediapipe); a bare GPU image may lack it: then run them on CPU later
  if $PY -c "import mediapipe" 2>/dev/null; then
    $PY -m evalkit.models.m2p.evaluate controls --checkpoint "$CKPT" --out runs/m2p-controls
    cp runs/m2p-controls/controls.md runs/m2p-controls/controls.json "$RESULTS/"
  else
    echo "mediapipe missing: run 'evaluate controls' on a machine that has it" >&2
  fi
}

case "${1:-all}" in
  data) step_data ;;
  train) step_train ;;
  eval) step_eval ;;
  paper) step_paper ;;
  all) step_train; step_eval ;;
  *) echo "usage: $0 data|train|eval|paper|all" >&2; exit 2 ;;
esac

if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT/m2p"
  cp -r "$RESULTS" "$OUT/m2p/" 2>/dev/null || true
  [ -f "$CKPT" ] && cp "$CKPT" "$OUT/m2p/"
  [ -f models/m2p/checkpoints/tiny-paper.safetensors ] && cp models/m2p/checkpoints/tiny-paper.safetensors "$OUT/m2p/"
fi
