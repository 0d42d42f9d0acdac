#!/usr/bin/env bash
# Runs rkeras's benchmark workloads and the anchors of shared/anchors (Keras 3 on TensorFlow,
# PyTorch) back to back on this machine, serially, and prints the ratios.
#
# usage: bench/compare.sh [w1] [w2] [w3] [w4]        (default: w1 w2)
# needs: cargo build --release -p rkeras-cli; the anchors' venvs under /tmp/anchors-env
#        (see shared/anchors/README.md: tf, torch); Fashion-MNIST for w2
#        (apt-get install dataset-fashion-mnist).
# Env: ANCHORS (default ../shared/anchors), ENVS (default /tmp/anchors-env),
#      W2_EPOCHS (default 5), OUT (log folder, default bench/results).
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ANCHORS=${ANCHORS:-$ROOT/../shared/anchors}
ENVS=${ENVS:-/tmp/anchors-env}
W2_EPOCHS=${W2_EPOCHS:-5}
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
field() { # log, key -> value
  grep -h '^RESULT' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}x')" "$1" "$2" 2>/dev/null || echo "n/a"; }

for w in ${@:-w1 w2}; do
  case $w in
    w1|w3)
      run rkeras-$w "$RK" bench $w
      if [ $w = w1 ]; then
        run keras-tf-w1 env KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 "$ENVS/tf/bin/python" "$ANCHORS/keras_bench.py" w1 3
        run torch-w1 "$ENVS/torch/bin/python" "$ANCHORS/torch_bench.py" w1 3
        r=$(field "$OUT/rkeras-w1.log" train_img_s)
        echo "W1 train img/s: rkeras $r | vs Keras/TF $(ratio "$r" "$(field "$OUT/keras-tf-w1.log" train_img_s)") | vs PyTorch $(ratio "$r" "$(field "$OUT/torch-w1.log" train_img_s)")"
        r=$(field "$OUT/rkeras-w1.log" infer_img_s)
        echo "W1 infer img/s (batch 32): rkeras $r | vs Keras/TF $(ratio "$r" "$(field "$OUT/keras-tf-w1.log" infer_img_s)") | vs PyTorch $(ratio "$r" "$(field "$OUT/torch-w1.log" infer_img_s)")"
      fi ;;
    w2)
      run rkeras-w2 "$RK" bench w2 --epochs "$W2_EPOCHS"
      run keras-tf-w2 env KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 "$ENVS/tf/bin/python" "$ANCHORS/keras_bench.py" w2 "$W2_EPOCHS"
      run torch-w2 "$ENVS/torch/bin/python" "$ANCHORS/torch_bench.py" w2 "$W2_EPOCHS"
      r=$(field "$OUT/rkeras-w2.log" train_img_s)
      echo "W2 train img/s: rkeras $r | vs Keras/TF $(ratio "$r" "$(field "$OUT/keras-tf-w2.log" train_img_s)") | vs PyTorch $(ratio "$r" "$(field "$OUT/torch-w2.log" train_img_s)")"
      echo "W2 test accuracy: rkeras $(field "$OUT/rkeras-w2.log" test_acc) | Keras/TF $(field "$OUT/keras-tf-w2.log" test_acc) | PyTorch $(field "$OUT/torch-w2.log" test_acc)" ;;
    w4)
      run rkeras-w4 "$RK" bench w4 ;;
    *) echo "unknown workload $w" ;;
  esac
done
