#!/usr/bin/env bash
# `percpu verify` over a folder of golden files, this checkout against another
# one (e.g. a build of main), interleaved: old, new, old, new… so both see the
# same load. Prints wall and CPU time (user+sys, worker threads and child
# processes included) per run, with the load average before each run.
#
#   bench/verify-speed.sh OLD_CHECKOUT [GOLDEN_DIR] [ROUNDS]
#
# OLD_CHECKOUT is a built copy of the project (its dist/src/cli/main.js is
# run); GOLDEN_DIR defaults to fixtures/golden (the 691 public goldens, gzip),
# ROUNDS to 3.
set -euo pipefail
old=${1:?usage: bench/verify-speed.sh OLD_CHECKOUT [GOLDEN_DIR] [ROUNDS]}
dir=${2:-fixtures/golden}
rounds=${3:-3}
new=$(cd "$(dirname "$0")/.." && pwd)
TIMEFORMAT='%R %U %S'
run() {
  local label=$1 root=$2 load t
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  t=$( { time node "$root/dist/src/cli/main.js" verify -q "$dir" >/tmp/percpu-verify-speed.out 2>&1 || true; } 2>&1 )
  read -r wall user sys <<<"$t"
  printf '%-4s wall %7.2f s  cpu %7.2f s  load %s  %s\n' "$label" "$wall" "$(awk "BEGIN { print $user + $sys }")" "$load" "$(tail -1 /tmp/percpu-verify-speed.out)"
}
for ((i = 1; i <= rounds; i++)); do
  run old "$old"
  run new "$new"
done
