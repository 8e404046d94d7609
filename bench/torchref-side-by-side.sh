#!/usr/bin/env bash
# Training speed side by side with the PyTorch baseline (issue 5): alternates `sharpseek bench train` and the
# torchref trainer (../shared/bench/torchref, a measuring instrument outside this repository — run, never copied)
# on the same preset, batch 8 × 256, random tokens, and prints both tokens/s and their ratio per pair, so the two
# see the same minutes of a shared machine.
#
#   bench/torchref-side-by-side.sh [PRESET] [THREADS] [PAIRS]      (defaults: tiny 1 3)
#
# Needs Debian's torch for /usr/bin/python3 (torchref's README):
#   apt-get install -y python3-torch python3-numpy libopenblas0-openmp libtcmalloc-minimal4
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-tiny}; threads=${2:-1}; pairs=${3:-3}
torchref=${TORCHREF:-../shared/bench/torchref}
[ -f "$torchref/train_ref.py" ] || { echo "torchref not found at $torchref (set TORCHREF=DIR)" >&2; exit 2; }
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "no torch for /usr/bin/python3: see the header of $0" >&2; exit 2; }

dotnet build src/SharpSeek.Cli -c Release -v q -nologo >/dev/null
sharpseek=src/SharpSeek.Cli/bin/Release/net10.0/sharpseek
if [ "$preset" = tiny ]; then ref_steps=20; ref_warmup=3; else ref_steps=8; ref_warmup=2; fi
our_steps=$ref_steps   # the same number of timed steps on both sides (both report the mean over them)

echo "preset $preset, batch 8 x 256, $threads thread(s), $pairs pair(s)"
for i in $(seq 1 "$pairs"); do
  ref=$( (cd "$torchref" && /usr/bin/python3 train_ref.py --preset "$preset" --batch 8 --seq 256 --steps $ref_steps \
          --warmup-steps $ref_warmup --threads "$threads" --random) | tail -1 \
        | /usr/bin/python3 -c 'import sys, json; print(json.loads(sys.stdin.read())["tokens_per_second"])')
  ours=$("$sharpseek" bench train --preset "$preset" --batch 8 --seq 256 --threads "$threads" --steps $our_steps --json \
        | /usr/bin/python3 -c 'import sys, json; d = json.loads(sys.stdin.read()); print(d["tokens_per_second"], d["mfu"])')
  read -r tps mfu <<<"$ours"
  /usr/bin/python3 -c "print(f'pair $i: torchref {float($ref):8.0f} tok/s   sharpseek {float($tps):8.0f} tok/s (MFU {100*float($mfu):.1f}%)   ratio {float($tps)/float($ref):.2f}x')"
done
