#!/usr/bin/env bash
# Every GPU check of issue #15 in one command, for a short lease on a CUDA machine:
#   1. the CUDA tests (CUDA graphs bit-identical to eager, bf16 sampling on the GPU),
#   2. benchmarks/sd15_vs_diffusers.py on the GPU (ours vs StableDiffusionPipeline, latent 32²),
#   3. benchmarks/gpu_forward.py (one UNet forward: layouts, CUDA graph, top kernels),
#   4. benchmarks/bf16_numerics.py at SD-1.5 width on the GPU (fp32 islands: time, error),
#   5. benchmarks/gpu_bench.py (bf16 images/s eager vs CUDA graphs; training step and MFU),
#   6. `ldm generate` / `ldm eval --device cuda` of the shipped txt2img / layout2img cards,
#      with and without CUDA graphs (same PNG, same metrics; eval wall time).
# Each part has its own time limit, so one that hangs still leaves the others' results.
#
#     bash benchmarks/gpu_checks.sh OUT_DIR [PART ...]   (PYTHON=... to pick the interpreter)
#     PART: tests sd15 forward numerics bench cli (default: all, in that order)
set -u
out=${1:-gpu_results}
mkdir -p "$out"
shift || true
parts=${*:-tests sd15 forward numerics bench cli}
py=${PYTHON:-python3}
ldm="$py -m ldmcore"
SD15_LATENT=${SD15_LATENT:-32}
DEVICE=${DEVICE:-cuda} EVAL_N=${EVAL_N:-128}  # (DEVICE=cpu: a dry run of the cli part)
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.used,memory.total \
    --format=csv 2>&1 | tee "$out/gpu.txt"
$py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/gpu.txt"


for part in $parts; do
case $part in
tests)
echo "== CUDA tests"
timeout 90 $py -m pytest -q -p no:cacheprovider -n 0 tests/unet/test_kv_cache_precision.py \
    2>&1 | tee "$out/tests.txt" | tail -25 ;;
sd15)
echo "== sd15_vs_diffusers.py --device cuda --latent $SD15_LATENT"
timeout 150 $py benchmarks/sd15_vs_diffusers.py --device cuda --latent "$SD15_LATENT" \
    --repeats 5 --no-rss --rows same "same, eager" best "best, eager" 2>&1 | grep -v "^  " \
    | tee "$out/sd15_cuda_$SD15_LATENT.md" ;;
forward)
echo "== gpu_forward.py"
timeout 150 $py benchmarks/gpu_forward.py ${FORWARD_ARGS:-} --out "$out" 2>&1 \
    | tee "$out/gpu_forward.md" | grep "^|" ;;
numerics)
echo "== bf16_numerics.py --device cuda"
timeout 60 $py benchmarks/bf16_numerics.py --device cuda --width 320 --latent 64 --repeats 5 \
    2>&1 | tee "$out/bf16_numerics.md" ;;
bench)
echo "== gpu_bench.py"
timeout 120 $py benchmarks/gpu_bench.py --batches 1,8 --repeats 3 --train-steps 10 2>&1 \
    | tee "$out/gpu_bench.md" ;;
cli)
echo "== ldm generate / eval --device $DEVICE, CUDA graphs on (default) and off"
for mode in cuda-graph no-cuda-graph; do
    timeout 60 $ldm generate shapes-txt2img --prompt "a blue circle above a red square" -n 8 \
        --device $DEVICE --no-progress --$mode --out "$out/txt2img-$mode.png"
    timeout 60 $ldm generate shapes-layout2img --no-progress --$mode --device $DEVICE -n 8 \
        --layout "circle red 0.1 0.1 0.5 0.5; square blue 0.55 0.5 0.95 0.9" \
        --out "$out/layout2img-$mode.png"
done
cmp "$out/txt2img-cuda-graph.png" "$out/txt2img-no-cuda-graph.png" && echo "txt2img: same PNG"
cmp "$out/layout2img-cuda-graph.png" "$out/layout2img-no-cuda-graph.png" \
    && echo "layout2img: same PNG"
for mode in cuda-graph no-cuda-graph cuda-graph no-cuda-graph; do
    start=$(date +%s%N)
    timeout 90 $ldm eval shapes-txt2img -n "$EVAL_N" --device $DEVICE --no-progress --$mode \
        --evaluator fidelity --out "$out/eval-txt2img-$mode.json" | tail -4
    echo "eval shapes-txt2img -n $EVAL_N --$mode: $(( ($(date +%s%N) - start) / 1000000 )) ms"
done ;;
esac
done
