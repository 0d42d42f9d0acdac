#!/usr/bin/env bash
# SIGKILL soak: kills `rkeras train` at random moments, KILLS times, and checks after every
# kill that nothing was lost:
#   - every checkpoint file present loads (`rkeras summary`),
#   - resuming (--resume) finishes the run with exit 0,
#   - no temporary file of a dead process survives the next write to its folder.
# A benchmark, not a CI test (it takes minutes). Prints one line per kill and a summary line
# `N passed, M failed`.
#
# usage: bench/sigkill_soak.sh [KILLS]   (default 100)
# needs: cargo build --release -p rkeras-cli
set -u
cd "$(dirname "$0")/.."
RK=$(pwd)/target/release/rkeras
KILLS=${1:-100}
[ -x "$RK" ] || { echo "build first: cargo build --release -p rkeras-cli"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$RK" export --dataset shapes --count 400 --size 32 --output "$work/data" > /dev/null
pass=0
fail=0
for k in $(seq 1 "$KILLS"); do
  run="$work/run"
  rm -rf "$run"
  mkdir -p "$run"
  args=(train "$work/data" --image-size 32 --model seed --epochs 4 --batch-size 16 --verbose 0
    --checkpoint "$run/ckpt/last.keras" --save-freq 3 --resume "$run/backup"
    --csv-log "$run/log.csv" --output "$run/final.keras")
  "$RK" "${args[@]}" > "$run/out1.txt" 2>&1 &
  pid=$!
  # A random moment in the first ~2.5 s (start-up, loading, training, saving).
  sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
  sleep "$((RANDOM % 3)).$((RANDOM % 10))"
  kill -9 "$pid" 2> /dev/null
  wait "$pid" 2> /dev/null
  bad=""
  for f in "$run/ckpt/last.keras" "$run/final.keras"; do
    if [ -f "$f" ] && ! "$RK" summary "$f" > /dev/null 2>&1; then bad="$bad unloadable:$f"; fi
  done
  if ! "$RK" "${args[@]}" > "$run/out2.txt" 2>&1; then bad="$bad resume-failed"; fi
  "$RK" summary "$run/final.keras" > /dev/null 2>&1 || bad="$bad final-unloadable"
  left=$(find "$run" -name '*.rkeras-tmp' | wc -l)
  [ "$left" -eq 0 ] || bad="$bad temporaries:$left"
  if [ -z "$bad" ]; then
    pass=$((pass + 1))
    echo "kill $k: ok"
  else
    fail=$((fail + 1))
    echo "kill $k: FAILED$bad"
    cat "$run/out2.txt"
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
