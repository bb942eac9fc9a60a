#!/usr/bin/env bash
# Issue 28's GPU work in one device call (< 10 min on one H100/H200, 16 cores), from the repository root:
#   1. m2p `full` on the paper route: one training step of stages 2 and 3, random weights: peak memory, step time
#      (benchmarks/m2p_train_step.py → models/m2p/results/train_step_full.json);
#   2. m2p `tiny` on the paper route from the committed tiny (models/m2p/train_gpu.sh paper → tiny-paper);
#   3. posedit retrained on the current SDGPip (models/posedit/train_gpu.sh train), then the seams of 30-s
#      stitched sequences (models/posedit/seams.py → models/posedit/results/seams_30s.json).
# The data are made on the machine while step 1 runs; 2 and 3 share the GPU. The machine has no uv and not all of
# evalkit's dependencies: SITE_TARS are tar.xz archives of unpacked wheels (av, librosa + its needs, soundfile,
# soxr, diffusers) for its Python, unpacked to a folder on PYTHONPATH. Results come back through $OUT as at most
# 8 files of ≤ 16 MiB: checkpoints in 15-MiB byte parts (cat them back together; SHA256SUMS checks the result),
# everything else in one results.tar.gz.
# The archives (kept in .devwheels/, which git ignores): av.tar.xz = the unpacked av 18.1.0 cp311-abi3 manylinux_2_28
# wheel; others.tar.xz = librosa 0.11.0, soundfile 0.14.0, soxr 1.1.0 (cp312-abi3), cffi 2.1.1 (cp312), pycparser
# 3.0, audioread 3.1.0, pooch 1.9.0, platformdirs 4.14.5, decorator 5.3.1, importlib_metadata 9.0.1 and diffusers
# 0.42.1 without pipelines/ (evalkit never imports them), unpacked together. With them the call is ~66 MB of the
# 64 MiB it may carry only while models/posedit/checkpoints/posedit.safetensors (not read here) is held out of the
# working tree as the call copies it (models/m2p/README.md, "Status of issue 28 (GPU session)").
set -u
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 NUMBA_CPU_NAME=generic NUMBA_CACHE_DIR=/tmp/numba
SITE=/tmp/site
mkdir -p "$SITE"
for t in ${SITE_TARS:-.devwheels/*.tar.xz}; do tar xJf "$t" -C "$SITE" || exit 1; done
export PYTHONPATH="$SITE:$PWD" EVALKIT="python3 -m evalkit" PY=python3
# evalkit.models / evalkit.baselines are the top-level folders (pyproject's package-dir), without an install
[ -e evalkit/models ] || ln -s ../models evalkit/models
[ -e evalkit/baselines ] || ln -s ../baselines evalkit/baselines
OUT=${OUT:-/tmp/out}
LOG=/tmp/logs
mkdir -p "$LOG" "$OUT" models/m2p/results models/posedit/results
python3 -c "import av, librosa, soundfile, diffusers, torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,memory.total --format=csv > "$LOG/gpu.txt" 2>&1
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a "$LOG/timeline.txt"; }

stamp "data + full-size step"
(OUT= JOBS=8 CLIPS=${M2P_CLIPS:-300} models/m2p/train_gpu.sh data > "$LOG/m2p_data.log" 2>&1; stamp "m2p data done") &
(OUT= JOBS=6 models/posedit/train_gpu.sh data > "$LOG/posedit_data.log" 2>&1
 $EVALKIT data synth --out runs/sdgpip-30s --train 4 --test 0 --seconds 30 --size 128 --fps 15 --seed 21 \
   --maps rgb --jobs 2 > "$LOG/seams_data.log" 2>&1; stamp "posedit data done") &
python3 benchmarks/m2p_train_step.py --config full --device cuda --out models/m2p/results/train_step_full.json \
  > "$LOG/full_step.log" 2>&1
stamp "full-size step done (exit $?)"
wait

(OUT= MINUTES=${M2P_MINUTES:-4} JOBS=8 models/m2p/train_gpu.sh paper > "$LOG/m2p_paper.log" 2>&1
 stamp "m2p paper done (exit $?)") &
(OUT= MINUTES=${POSEDIT_MINUTES:-3.5} JOBS=8 models/posedit/train_gpu.sh train > "$LOG/posedit_train.log" 2>&1
 stamp "posedit train done (exit $?)"
 python3 -m evalkit.models.posedit.seams --root runs/sdgpip-30s --split train --device cuda \
   --out models/posedit/results/seams_30s.json > "$LOG/seams.log" 2>&1
 stamp "seams done (exit $?)") &
wait

for ck in models/m2p/checkpoints/tiny-paper.safetensors models/posedit/checkpoints/posedit.safetensors; do
  [ -f "$ck" ] || continue
  sha256sum "$ck" >> "$OUT/SHA256SUMS"
  split -b 15M -d "$ck" "$OUT/$(basename "$ck").part"
done
tar czf "$OUT/results.tar.gz" models/m2p/results/paper models/m2p/results/train_step_full.json \
  models/posedit/results "$LOG" 2>/dev/null
stamp "packed"; ls -l "$OUT"
