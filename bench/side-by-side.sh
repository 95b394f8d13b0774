#!/usr/bin/env bash
# Side by side on this machine: the authors' GPM-based BECAME code (through bench/reference/harness.py) and
# `became bench`, interleaved (reference, Became, reference, Became ...) so both see the same load, on the cells
# {split, permuted} x {gpm, became}. Each process runs under /usr/bin/time: wall s, CPU s (user + sys), peak RSS.
# Writes one markdown table (ratio = reference wall / Became wall per cell), then per cell and seed the ratio, both
# programs' accuracy matrices and the memory ranks after the last task, to stdout and to --out.
#
#   bench/side-by-side.sh [--official DIR] [--seeds 0[,1,...]] [--streams split,permuted] [--methods gpm,became]
#                         [--model mlp|resnet18[:W]] [--epochs E] [--train-per-task N] [--batch-size B] [--lr X]
#                         [--threads 2] [--out FILE] [--work DIR] [--no-build] [--dry-run]
#
# --model resnet18[:W] (split only; default streams split): the authors' ResNet-18 (nf = round(20 W), W default 1)
# on Fashion-MNIST zero-padded to 3x32x32, batch 64, lr 0.1 (their miniimagenet settings) unless --batch-size/--lr;
# Became gets --model resnet18[:W] --input-shape 3,32,32 and picks its memory defaults from its model registry.
# --epochs / --train-per-task / --batch-size / --lr go to both programs when given (default: each one's own).
#
# The authors' code: --official DIR or BECAME_OFFICIAL = the GPM-based/ folder of github.com/ankur-bohra/BECAME at
# commit 859a267 (or the folder holding GPM-based/). Its Python: /usr/bin/python3 with torch 1.13 (Debian's
# python3-torch; PYTHON overrides); OpenBLAS and a tqdm stand-in are set up in the work folder when missing (see
# bench/reference/README.md). Runtime on an idle 2-core machine: about 10 minutes for seed 0 (the four cells,
# both programs; the reference takes about four fifths of it). The reference's resnet18 (nf 20, 3x32x32) is far
# slower: split became --epochs 1 --train-per-task 500 takes about 160 s of the reference alone (1.3 GB peak).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

official="${BECAME_OFFICIAL:-}"
seeds=0
streams=""
methods=gpm,became
model=mlp
epochs=""
train_per_task=""
batch_size=""
lr=""
threads=2
out=""
work="${TMPDIR:-/tmp}/became-side-by-side"
build=1
dry=0
table_from=""
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --official) official="${2:?--official needs a folder}"; shift 2 ;;
    --seeds) seeds="${2:?--seeds needs a list}"; shift 2 ;;
    --streams) streams="${2:?--streams needs a list}"; shift 2 ;;
    --methods) methods="${2:?--methods needs a list}"; shift 2 ;;
    --model) model="${2:?--model needs mlp or resnet18[:W]}"; shift 2 ;;
    --epochs) epochs="${2:?--epochs needs a number}"; shift 2 ;;
    --train-per-task) train_per_task="${2:?--train-per-task needs a number}"; shift 2 ;;
    --batch-size) batch_size="${2:?--batch-size needs a number}"; shift 2 ;;
    --lr) lr="${2:?--lr needs a number}"; shift 2 ;;
    --threads) threads="${2:?--threads needs a number}"; shift 2 ;;
    --out) out="${2:?--out needs a file}"; shift 2 ;;
    --work) work="${2:?--work needs a folder}"; shift 2 ;;
    --no-build) build=0; shift ;;
    --dry-run) dry=1; shift ;;
    --table-from) table_from="${2:?--table-from needs a file}"; shift 2 ;; # format a measurements file (tests)
    -h|--help) usage; exit 0 ;;
    *) echo "side-by-side.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# measurements file: one line per process: stream method seed program wall user sys maxrss_kib acc bwt
table() {
  python3 - "$1" "$threads" <<'PY'
import sys
from collections import OrderedDict
rows = OrderedDict()
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) != 10:
        continue
    stream, method, seed, prog = f[0], f[1], f[2], f[3]
    wall, user, sys_, rss = float(f[4]), float(f[5]), float(f[6]), int(f[7])
    acc = None if f[8] == "-" else float(f[8]); bwt = None if f[9] == "-" else float(f[9])
    cell = rows.setdefault((stream, method), {"ref": [], "became": [], "seeds": []})
    if seed not in cell["seeds"]:
        cell["seeds"].append(seed)
    cell[prog].append((wall, user + sys_, rss / 1024.0, acc, bwt))
def mean(xs): return sum(xs) / len(xs) if xs else float("nan")
def num(x, d=1): return "n/a" if x != x else f"{x:.{d}f}"
def accs(runs, i):
    xs = [r[i] for r in runs if r[i] is not None]
    return num(mean(xs), 2) if xs else "n/a"
print(f"| stream / method | seeds | reference wall s | Became wall s | ratio | reference CPU s | Became CPU s "
      f"| Became CPU / wall | peak RSS ref / Became MiB | ACC ref / Became | BWT ref / Became |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (stream, method), c in rows.items():
    r, b = c["ref"], c["became"]
    rw, bw = mean([x[0] for x in r]), mean([x[0] for x in b])
    rc, bc = mean([x[1] for x in r]), mean([x[1] for x in b])
    ratio = rw / bw if r and b and bw > 0 else float("nan")
    rss = f"{num(max([x[2] for x in r], default=float('nan')), 0)} / {num(max([x[2] for x in b], default=float('nan')), 0)}"
    print(f"| {stream} {method} | {','.join(c['seeds'])} | {num(rw)} | {num(bw)} | **{num(ratio, 2)}** | {num(rc)} | {num(bc)} "
          f"| {num(bc / bw if bw > 0 else float('nan'), 2)} | {rss} | {accs(r, 3)} / {accs(b, 3)} | {accs(r, 4)} / {accs(b, 4)} |")
PY
}

# Per cell and seed: the ratio, both programs' accuracy matrices (R[i][j], percent on task j after task i) and the
# memory ranks after the last task, read from the JSON reports in the work folder.
details() { # measurements work tag
  python3 - "$1" "$2" "$3" <<'PY'
import json, os, sys
measurements, work, tag = sys.argv[1:4]
seen = {}
for line in open(measurements):
    f = line.split()
    if len(f) == 10:
        seen.setdefault((f[0], f[1], f[2]), {})[f[3]] = float(f[4])
def report(prog, stream, method, seed):
    path = os.path.join(work, f"{prog}-{tag}{stream}-{method}-{seed}.json")
    if not os.path.exists(path):
        return None
    d = json.load(open(path))
    r = d["runs"][0] if "runs" in d else d
    return r.get("accMatrix") or [], r.get("memoryRanks") or r.get("gpmRanks") or []
def rows(m):
    return [" ".join(f"{v:6.2f}" for v in row[: i + 1]) for i, row in enumerate(m)]
for (stream, method, seed), walls in seen.items():
    ref, bec = report("ref", stream, method, seed), report("became", stream, method, seed)
    if not ref or not bec:
        continue
    ratio = walls["ref"] / walls["became"] if walls.get("became") else float("nan")
    print(f"\n**{stream} {method}, seed {seed}**: wall {walls['ref']:.1f} s / {walls['became']:.1f} s, ratio {ratio:.2f}\n")
    print("```")
    print(f"{'reference':<44}  Became")
    for a, b in zip(rows(ref[0]), rows(bec[0])):
        print(f"{a:<44}  {b}")
    print(f"ranks after the last task: reference {ref[1][-1] if ref[1] else '-'}")
    print(f"                           Became    {bec[1][-1] if bec[1] else '-'}")
    print("```")
PY
}

if [ -n "$table_from" ]; then
  table "$table_from"
  exit 0
fi

# The model and the flags both programs get.
positive_int() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "side-by-side.sh: $1 '$2' is not a positive integer" >&2; exit 2; }; }
positive_num() { [[ "$2" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$ ]] && python3 -c "import sys; sys.exit(float('$2') <= 0)" \
  || { echo "side-by-side.sh: $1 '$2' is not a positive number" >&2; exit 2; }; }
[ -z "$epochs" ] || positive_int --epochs "$epochs"
[ -z "$train_per_task" ] || positive_int --train-per-task "$train_per_task"
[ -z "$batch_size" ] || positive_int --batch-size "$batch_size"
[ -z "$lr" ] || positive_num --lr "$lr"
ref_flags=() became_flags=()
case "$model" in
  mlp) ;;
  resnet18|resnet18:*)
    width=1
    if [ "$model" != resnet18 ]; then width="${model#resnet18:}"; positive_num "--model resnet18:W, W" "$width"; fi
    batch_size="${batch_size:-64}" lr="${lr:-0.1}"
    ref_flags=(--model resnet18 --width "$width" --input-shape 3,32,32)
    became_flags=(--model "$model" --input-shape 3,32,32) ;;
  *) echo "side-by-side.sh: --model '$model' is not mlp or resnet18[:W]" >&2; exit 2 ;;
esac
for flag in epochs train_per_task batch_size lr; do
  value="${!flag}"
  if [ -n "$value" ]; then
    ref_flags+=("--${flag//_/-}" "$value") became_flags+=("--${flag//_/-}" "$value")
  fi
done
if [ -z "$streams" ]; then
  if [ "$model" = mlp ]; then streams=split,permuted; else streams=split; fi
fi
tag=""
[ "$model" = mlp ] || tag="${model/:/-}-"
IFS=, read -r -a seed_list <<<"$seeds"
IFS=, read -r -a stream_list <<<"$streams"
IFS=, read -r -a method_list <<<"$methods"
for stream in "${stream_list[@]}"; do
  case "$stream" in split|permuted) ;; *) echo "side-by-side.sh: stream '$stream' is not split or permuted" >&2; exit 2 ;; esac
  if [ "$model" != mlp ] && [ "$stream" != split ]; then
    echo "side-by-side.sh: --model $model runs the split stream only" >&2; exit 2
  fi
done
for method in "${method_list[@]}"; do
  case "$method" in gpm|became|fixed|finetune) ;; *) echo "side-by-side.sh: method '$method' is not gpm, became, fixed or finetune" >&2; exit 2 ;; esac
done

# The authors' code: the GPM-based/ folder itself or the folder holding it.
if [ -n "$official" ] && [ -f "$official/GPM-based/gpm.py" ]; then official="$official/GPM-based"; fi
if [ -z "$official" ] || [ ! -f "$official/gpm.py" ]; then
  cat >&2 <<'MSG'
side-by-side.sh: the authors' code was not found: set BECAME_OFFICIAL (or --official) to its GPM-based/ folder. To get it:
  git clone https://github.com/ankur-bohra/BECAME /tmp/BECAME-src
  mkdir -p ~/became-official && git -C /tmp/BECAME-src archive 859a267 GPM-based | tar -x -C ~/became-official
  BECAME_OFFICIAL=~/became-official/GPM-based bench/side-by-side.sh
MSG
  exit 2
fi
python="${PYTHON:-/usr/bin/python3}"
harness="$root/bench/reference/harness.py"
[ -f "$harness" ] || harness=/work/shared/reference/harness.py
bench="$root/src/Became.Bench/bin/Release/net10.0/linux-x64/became-bench"
data="${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}"
timer=/usr/bin/time
mkdir -p "$work"
measurements="$work/measurements.txt"

# The reference's environment: OpenBLAS (Debian's default reference BLAS is ~10x slower) and tqdm if missing.
blas="${REFERENCE_BLAS:-}"
if [ -z "$blas" ]; then
  blas="$(find "$work/openblas" -name libblas.so.3 -printf '%h\n' 2>/dev/null | head -1 || true)"
fi
setup_reference() {
  if [ -z "$blas" ]; then
    (cd "$work" && rm -rf openblas && mkdir -p openblas && cd openblas && apt-get download libopenblas0-openmp >/dev/null 2>&1 \
      && dpkg -x libopenblas0-openmp_*.deb .) || { echo "side-by-side.sh: could not fetch OpenBLAS (apt-get download libopenblas0-openmp); set REFERENCE_BLAS to a folder holding libblas.so.3" >&2; exit 2; }
    blas="$(find "$work/openblas" -name libblas.so.3 -printf '%h\n' | head -1)"
  fi
  if ! "$python" -c 'import tqdm' 2>/dev/null; then
    mkdir -p "$work/tqdm-stand-in"
    printf '%s\n' 'class tqdm:' \
      '    def __init__(self, iterable=None, *a, **k): self._it = iterable' \
      '    def __iter__(self): return iter(self._it)' \
      '    def __getattr__(self, name): return lambda *a, **k: None' > "$work/tqdm-stand-in/tqdm.py"
  fi
  "$python" -c 'import torch' 2>/dev/null || { echo "side-by-side.sh: $python has no torch (Debian: apt-get install python3-torch; or set PYTHON)" >&2; exit 2; }
  [ -x "$timer" ] || { echo "side-by-side.sh: /usr/bin/time is missing (apt-get install time; scripts/setup.sh does it)" >&2; exit 2; }
}

run_reference() { # stream method seed
  local json="$work/ref-$tag$1-$2-$3.json"
  local cmd=(env BECAME_OFFICIAL="$official" FMNIST_DIR="$data" LD_LIBRARY_PATH="$blas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    OMP_NUM_THREADS="$threads" PYTHONPATH="$work/tqdm-stand-in${PYTHONPATH:+:$PYTHONPATH}"
    "$python" "$harness" --stream "$1" --method "$2" --seed "$3" --json "$json" ${ref_flags[@]+"${ref_flags[@]}"})
  measure ref "$1" "$2" "$3" "$json" "${cmd[@]}"
}

run_became() { # stream method seed
  local json="$work/became-$tag$1-$2-$3.json"
  local cmd=("$bench" --stream "$1-fmnist" --methods "$2" --seeds "$3" --threads "$threads" --data "$data" --json "$json"
    ${became_flags[@]+"${became_flags[@]}"})
  measure became "$1" "$2" "$3" "$json" "${cmd[@]}"
}

measure() { # program stream method seed json command...
  local prog="$1" stream="$2" method="$3" seed="$4" json="$5"; shift 5
  if [ "$dry" = 1 ]; then
    echo "$prog $stream $method seed $seed: $*"
    return
  fi
  echo "side-by-side: $prog $stream $method seed $seed ..." >&2
  rm -f "$json"
  local times="$work/$prog-$tag$stream-$method-$seed.time" log="$work/$prog-$tag$stream-$method-$seed.log"
  if ! "$timer" -f '%e %U %S %M' -o "$times" "$@" >"$log" 2>&1; then
    echo "side-by-side.sh: $prog $stream $method seed $seed failed; its output: $log" >&2
    tail -5 "$log" >&2
    exit 1
  fi
  local scores
  scores="$(python3 - "$json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["runs"][0] if "runs" in d else d
print(r["acc"], r["bwt"])
PY
)"
  echo "$stream $method $seed $prog $(tail -1 "$times") $scores" >>"$measurements"
  echo "side-by-side: $prog $stream $method seed $seed: $(tail -1 "$times") (wall user sys KiB), ACC BWT $scores" >&2
}

if [ "$dry" = 0 ]; then
  setup_reference
  if [ "$build" = 1 ]; then
    (cd "$root" && dotnet build src/Became.Bench -c Release 2>&1 | grep -E " error |rror\(s\)" | grep -v " 0 Error" >&2 || true)
  fi
  [ -x "$bench" ] || { echo "side-by-side.sh: $bench is missing (dotnet build src/Became.Bench -c Release)" >&2; exit 2; }
  : >"$measurements"
fi

started=$(date +%s)
for stream in "${stream_list[@]}"; do
  for method in "${method_list[@]}"; do
    for seed in "${seed_list[@]}"; do
      run_reference "$stream" "$method" "$seed"
      run_became "$stream" "$method" "$seed"
    done
  done
done
[ "$dry" = 1 ] && exit 0

report="$(table "$measurements")"
setting=""
[ "$model" = mlp ] || setting+=", model $model (input 3,32,32)"
for flag in epochs train_per_task batch_size lr; do
  [ -z "${!flag}" ] || setting+=", ${flag//_/-} ${!flag}"
done
header="Side by side on $(nproc) CPUs ($(uname -m)), $(date -u +%Y-%m-%dT%H:%MZ), threads $threads, seeds $seeds$setting, interleaved; $(( $(date +%s) - started )) s in all."
report+=$'\n'"$(details "$measurements" "$work" "$tag")"
printf '%s\n\n%s\n' "$header" "$report"
if [ -n "$out" ]; then printf '%s\n\n%s\n' "$header" "$report" >"$out"; fi
