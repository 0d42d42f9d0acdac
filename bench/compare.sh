#!/usr/bin/env bash
# Runs rkeras's benchmark workloads and the anchors of shared/anchors (Keras 3 on TensorFlow,
# PyTorch) back to back on this machine, serially, and prints the ratios.
#
# usage: bench/compare.sh [w1] [w2] [w3] [w4] [w5] [w6] [w7] [w8] [scaling]   (default: w1 w2;
#        the anchors of w3 and w4 are bench/w3_anchors.py and bench/w4_anchors.py, as
#        shared/anchors has none; w5-w8 (ResNet50, MobileNetV2, EfficientNetB0, DenseNet121
#        at 64x64) run bench/keras_apps.py and bench/torch_apps.py (torchvision needed);
#        scaling is rkeras alone: W1 on 1 thread against all cores)
# needs: cargo build --release -p rkeras-cli; the anchors' venvs under /tmp/anchors-env
#        (see shared/anchors/README.md: tf, torch); Fashion-MNIST for w2
#        (apt-get install dataset-fashion-mnist).
# Env: ANCHORS (default ../shared/anchors), ENVS (default /tmp/anchors-env),
#      W2_EPOCHS (default 5), ROUNDS (default 1: runs of each W1/W3 command, alternating;
#      the median is reported, since this VM drifts 10-40 % between minutes), OUT (log folder,
#      default bench/results); for w5-w8 SIZE (64), TRAIN_BS (32), APPS_N (320), e.g.
#      `SIZE=224 TRAIN_BS=16 APPS_N=64 bench/compare.sh w6` for the 224x224 runs; FROZEN=1
#      freezes everything but the classifier in all three (transfer learning's first phase).
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ANCHORS=${ANCHORS:-$ROOT/../shared/anchors}
ENVS=${ENVS:-/tmp/anchors-env}
W2_EPOCHS=${W2_EPOCHS:-5}
ROUNDS=${ROUNDS:-1}
SIZE=${SIZE:-64}          # w5-w8: image side (224: the full-size runs)
TRAIN_BS=${TRAIN_BS:-32}  # w5-w8: training batch (16 at 224)
APPS_N=${APPS_N:-320}     # w5-w8: synthetic images per epoch and inference pass
FROZEN=${FROZEN:-0}       # w5-w8: 1 trains the classifier only, on a frozen backbone
OUT=${OUT:-$ROOT/bench/results}
RK=$ROOT/target/release/rkeras
mkdir -p "$OUT"
[ -x "$RK" ] || { echo "build first: cargo build --release -p rkeras-cli"; exit 1; }

run() { # name, command...
  local name=$1; shift
  echo "== $name: $*"
  /usr/bin/time -v "$@" > "$OUT/$name.log" 2>&1
  grep -h '^RESULT' "$OUT/$name.log"
  grep -h 'Maximum resident' "$OUT/$name.log" | sed 's/^\s*/   /'
}
field() { # logs..., key -> median value over the logs
  local key=${@: -1}
  local files=("${@:1:$#-1}")
  grep -h '^RESULT' "${files[@]}" | tr ' ' '\n' | sed -n "s/^$key=//p" |
    python3 -c "import sys,statistics; v=[float(l) for l in sys.stdin if l.strip()]; print(f'{statistics.median(v):.4g}' if v else 'nan')"
}
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}x')" "$1" "$2" 2>/dev/null || echo "n/a"; }
pct() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{100*a/b:.0f} %')" "$1" "$2" 2>/dev/null || echo "n/a"; }

# The machine's practical f32 GEMM peak (numpy/OpenBLAS and torch, 2048^3), for the "% of
# peak" of rkeras's conv and dense layers (layers_gflops, 2 threads) during W1 training.
run peak "$ENVS/torch/bin/python" "$ANCHORS/peak_bench.py"
grep -h 'GFLOP/s' "$OUT/peak.log"
PEAK2=$(sed -n 's/.*matmul f32 .*threads=2: median \([0-9.]*\).*/\1/p' "$OUT/peak.log" | head -1)

for w in ${@:-w1 w2}; do
  case $w in
    w1|w3)
      rm -f "$OUT"/*-$w.*.log   # no stale rounds in the medians
      for r in $(seq 1 "$ROUNDS"); do
        # W1 times epochs 2+ of 2 (100 steps), W3 epochs 2+ of 3 (50 steps), as the anchors.
        run rkeras-$w.$r "$RK" bench $w --epochs $([ $w = w3 ] && echo 3 || echo 2)
        if [ $w = w1 ]; then
          # candle and burn, when their anchors are built (shared/anchors/README.md: about
          # 10 and 16 minutes of compiling on 2 cores; each is 4-9x slower than Keras).
          [ -x "$ENVS/target-candle/release/candle_w1" ] && run candle-w1.$r env EPOCHS=2 "$ENVS/target-candle/release/candle_w1"
          [ -x "$ENVS/target-burn/release/burn_bench" ] && run burn-flex-w1.$r env EPOCHS=2 "$ENVS/target-burn/release/burn_bench" flex w1
          run keras-tf-w1.$r env KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 "$ENVS/tf/bin/python" "$ANCHORS/keras_bench.py" w1 3
          run torch-w1.$r "$ENVS/torch/bin/python" "$ANCHORS/torch_bench.py" w1 3
        else
          run keras-tf-w3.$r env KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 "$ENVS/tf/bin/python" bench/w3_anchors.py keras
          run torch-w3.$r "$ENVS/torch/bin/python" bench/w3_anchors.py torch
        fi
      done
      if [ $w = w1 ]; then
        for k in train_img_s infer_img_s; do
          r=$(field "$OUT"/rkeras-w1.*.log $k)
          echo "W1 $k (median of $ROUNDS): rkeras $r | Keras/TF $(field "$OUT"/keras-tf-w1.*.log $k) ($(ratio "$r" "$(field "$OUT"/keras-tf-w1.*.log $k)")) | PyTorch $(field "$OUT"/torch-w1.*.log $k) ($(ratio "$r" "$(field "$OUT"/torch-w1.*.log $k)"))"
          for other in candle-w1 burn-flex-w1; do
            ls "$OUT"/$other.*.log >/dev/null 2>&1 &&
              echo "   $other $(field "$OUT"/$other.*.log $k) ($(ratio "$r" "$(field "$OUT"/$other.*.log $k)"))"
          done
        done
        g=$(field "$OUT"/rkeras-w1.*.log layers_gflops)
        echo "W1 conv+dense layers: $g GFLOP/s = $(pct "$g" "${PEAK2:-nan}") of the 2-thread GEMM peak (${PEAK2:-n/a} GFLOP/s, numpy 2048^3)"
      fi
      if [ $w = w3 ]; then
        r=$(field "$OUT"/rkeras-w3.*.log train_img_s)
        echo "W3 train_img_s (median of $ROUNDS): rkeras $r | Keras/TF $(field "$OUT"/keras-tf-w3.*.log train_img_s) ($(ratio "$r" "$(field "$OUT"/keras-tf-w3.*.log train_img_s)")) | PyTorch $(field "$OUT"/torch-w3.*.log train_img_s) ($(ratio "$r" "$(field "$OUT"/torch-w3.*.log train_img_s)"))"
      fi ;;
    w2)
      run rkeras-w2 "$RK" bench w2 --epochs "$W2_EPOCHS"
      run keras-tf-w2 env KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 "$ENVS/tf/bin/python" "$ANCHORS/keras_bench.py" w2 "$W2_EPOCHS"
      run torch-w2 "$ENVS/torch/bin/python" "$ANCHORS/torch_bench.py" w2 "$W2_EPOCHS"
      r=$(field "$OUT/rkeras-w2.log" train_img_s)
      echo "W2 train img/s: rkeras $r | vs Keras/TF $(ratio "$r" "$(field "$OUT/keras-tf-w2.log" train_img_s)") | vs PyTorch $(ratio "$r" "$(field "$OUT/torch-w2.log" train_img_s)")"
      echo "W2 test accuracy: rkeras $(field "$OUT/rkeras-w2.log" test_acc) | Keras/TF $(field "$OUT/keras-tf-w2.log" test_acc) | PyTorch $(field "$OUT/torch-w2.log" test_acc)" ;;
    w4)
      run rkeras-w4 "$RK" bench w4
      run keras-tf-w4 env KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 "$ENVS/tf/bin/python" bench/w4_anchors.py keras
      run torch-w4 "$ENVS/torch/bin/python" bench/w4_anchors.py torch
      for k in infer_b1_img_s infer_b32_img_s; do
        r=$(field "$OUT/rkeras-w4.log" $k)
        echo "W4 $k: rkeras $r | Keras/TF $(field "$OUT/keras-tf-w4.log" $k) ($(ratio "$r" "$(field "$OUT/keras-tf-w4.log" $k)")) | PyTorch $(field "$OUT/torch-w4.log" $k) ($(ratio "$r" "$(field "$OUT/torch-w4.log" $k)"))"
      done
      echo "W4 batch-1 latency ms: rkeras $(field "$OUT/rkeras-w4.log" infer_b1_latency_ms) | Keras/TF $(field "$OUT/keras-tf-w4.log" infer_b1_latency_ms) | PyTorch $(field "$OUT/torch-w4.log" infer_b1_latency_ms)" ;;
    w5|w6|w7|w8)
      # keras.applications at 64x64: rkeras's builder, Keras's model (weights=None) and
      # torchvision's, same data and protocol (bench/keras_apps.py), alternating rounds.
      case $w in
        w5) kname=ResNet50; tname=resnet50 ;;
        w6) kname=MobileNetV2; tname=mobilenet_v2 ;;
        w7) kname=EfficientNetB0; tname=efficientnet_b0 ;;
        w8) kname=DenseNet121; tname=densenet121 ;;
      esac
      rm -f "$OUT"/*-$w.*.log
      for r in $(seq 1 "$ROUNDS"); do
        run rkeras-$w.$r "$RK" bench $w --size "$SIZE" --train-batch "$TRAIN_BS" --images "$APPS_N" $([ "$FROZEN" = 1 ] && echo --frozen)
        run keras-tf-$w.$r env KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 APPS_N="$APPS_N" APPS_TRAIN_BS="$TRAIN_BS" APPS_FROZEN="$FROZEN" "$ENVS/tf/bin/python" bench/keras_apps.py $kname "$SIZE"
        run torch-$w.$r env APPS_N="$APPS_N" APPS_TRAIN_BS="$TRAIN_BS" APPS_FROZEN="$FROZEN" "$ENVS/torch/bin/python" bench/torch_apps.py $tname "$SIZE"
      done
      [ "$FROZEN" = 1 ] && echo "${w^^}: the backbone frozen, the classifier alone trains (FROZEN=1)"
      for k in train_img_s infer_b32_img_s; do
        r=$(field "$OUT"/rkeras-$w.*.log $k)
        echo "${w^^} $kname ${SIZE}x$SIZE $k (median of $ROUNDS): rkeras $r | Keras/TF $(field "$OUT"/keras-tf-$w.*.log $k) ($(ratio "$r" "$(field "$OUT"/keras-tf-$w.*.log $k)")) | PyTorch $(field "$OUT"/torch-$w.*.log $k) ($(ratio "$r" "$(field "$OUT"/torch-$w.*.log $k)"))"
      done
      echo "${w^^} $kname ${SIZE}x$SIZE batch-1 latency ms: rkeras $(field "$OUT"/rkeras-$w.*.log infer_b1_latency_ms) | Keras/TF $(field "$OUT"/keras-tf-$w.*.log infer_b1_latency_ms) | PyTorch $(field "$OUT"/torch-$w.*.log infer_b1_latency_ms)"
      for name in rkeras keras-tf torch; do
        echo "   $name peak RSS (KB): $(grep -h 'Maximum resident' "$OUT"/$name-$w.*.log | awk '{print $NF}' | tr '\n' ' ')"
      done ;;
    scaling)
      # W1 on one thread and on all cores, in alternate 20-step runs of one process.
      run rkeras-scaling "$RK" bench scaling
      echo "W1 thread scaling (median of the pairs' ratios): $(field "$OUT/rkeras-scaling.log" ratio) (pairs from $(field "$OUT/rkeras-scaling.log" ratio_min) to $(field "$OUT/rkeras-scaling.log" ratio_max))" ;;
    *) echo "unknown workload $w" ;;
  esac
done
