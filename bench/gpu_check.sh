#!/usr/bin/env bash
# The prepared GPU run: on a machine with an NVIDIA GPU it checks the engine there and trains
# the larger model (`base`: 2 x 512 GRU) within 10 minutes, leaving the model, its log and a
# record for the model card's training-runs table in RESULTS_DIR. The same parts run on the
# CPU with a tiny preset in seconds (tests/bench/test_gpu_check.py does that):
#
#   bench/gpu_check.sh [OPTIONS] RESULTS_DIR [-- TRAIN_OPTIONS...]
#   bench/gpu_check.sh --device cpu --preset tiny --corpus tests/fixtures/small_corpus.jsonl \
#       --train-minutes 0.1 /tmp/results
#
#   --preset NAME         the preset to train (GPU_PRESET; default base)
#   --device cuda|cpu     (GPU_DEVICE; default cuda)
#   --corpus NAME|FILE    (GPU_CORPUS; default chitchat)
#   --seconds N           the whole run's budget (GPU_CHECK_SECONDS; default 560, under 10 min)
#   --train-minutes M     the training loop's minutes (default: what the budget leaves it)
#   --tokenizer-from DIR  train on DIR's tokenizer (GPU_TOKENIZER_FROM; default resources/model,
#                         so the new model uses the shipped reply index and backward scorer)
#   --new-tokenizer       train a new tokenizer on the corpus instead
#   --skip-checks         no engine tests, throughput bench or NCCL run: the training gets
#                         their 2.5 minutes (about 6.5 minutes of training instead of 4)
#   --note TEXT           what this run changes, in the card's words
#   TRAIN_OPTIONS         more `train` options, e.g. -- --hidden-size 1024 --batch-tokens 20000
#   PYTHON=/path/to/python3 picks the interpreter. Relative paths are from the checkout's root.
#
# Uses the machine's own PyTorch (>= 2.3) with sentencepiece, safetensors and tqdm (pytest for
# the tests); installs nothing and needs no Qt or SQLAlchemy (train and eval run through a
# small entry point written to a scratch folder, not main.py). Every part runs under
# `timeout`, cut to what is left of the budget. RESULTS_DIR must be new or empty; it gets at
# most 8 files (what a lent machine's results folder brings back):
#   summary.txt  machine, torch, each part's exit code and seconds, skips and why, the card row
#   checks.log   CUDA only: pytest tests/engine --device cuda, bench/train_throughput.py (bf16),
#                a 2-process NCCL training run (with 2+ GPUs)
#   train.log    the training's JSON progress lines, ending with its "end" event
#   model/       the trained model: float16 weights, its training record and commands in
#                config.json, no optimizer state (`train --resume` from it starts a fresh AdamW)
#   run.json     the run's record (bench/run_record.py): machine, torch, seconds, steps, best
#                valid and test perplexity, decode latency. Into the card's table:
#                python bench/render_model_card.py --run run.json
# The chitchat corpus comes from the `chitchat_dataset` package; where that is missing, copy
# its folder into .gpu-deps/ of this checkout first (this script puts .gpu-deps on PYTHONPATH):
#   mkdir -p .gpu-deps && cp -r .venv/lib/python3*/site-packages/chitchat_dataset .gpu-deps/
# Without it the train benchmark is skipped and the model trains on the test fixture corpus.
set -uo pipefail

usage() {
    echo "usage: bench/gpu_check.sh [--preset NAME] [--device cuda|cpu] [--corpus NAME|FILE]" \
        "[--seconds N] [--train-minutes M] [--tokenizer-from DIR | --new-tokenizer]" \
        "[--skip-checks] [--note TEXT] RESULTS_DIR [-- TRAIN_OPTIONS...]" >&2
    exit 2
}
INVOCATION="bench/gpu_check.sh$(printf ' %q' "$@")"
PRESET=${GPU_PRESET:-base} DEVICE=${GPU_DEVICE:-cuda} CORPUS=${GPU_CORPUS:-chitchat}
BUDGET=${GPU_CHECK_SECONDS:-560} TOKENIZER_FROM=${GPU_TOKENIZER_FROM-resources/model}
TRAIN_MINUTES="" SKIP_CHECKS=0 NOTE="" RESULTS="" TRAIN_OPTIONS=()
while (($#)); do
    case $1 in
        --preset | --device | --corpus | --seconds | --train-minutes | --tokenizer-from | --note)
            (($# >= 2)) || usage
            case $1 in
                --preset) PRESET=$2 ;; --device) DEVICE=$2 ;; --corpus) CORPUS=$2 ;;
                --seconds) BUDGET=$2 ;; --train-minutes) TRAIN_MINUTES=$2 ;;
                --tokenizer-from) TOKENIZER_FROM=$2 ;; --note) NOTE=$2 ;;
            esac
            shift 2 ;;
        --new-tokenizer) TOKENIZER_FROM="" && shift ;;
        --skip-checks) SKIP_CHECKS=1 && shift ;;
        --) shift && TRAIN_OPTIONS=("$@") && break ;;
        -*) usage ;;
        *) [ -z "$RESULTS" ] || usage; RESULTS=$1 && shift ;;
    esac
done
[ -n "$RESULTS" ] || usage
case $DEVICE in cuda | cpu) ;; *) echo "gpu_check.sh: --device is cuda or cpu" >&2 && exit 2 ;; esac
if ! [[ $BUDGET =~ ^[0-9]+$ ]] || ! [[ $TRAIN_MINUTES =~ ^([0-9]*\.)?[0-9]*$ ]]; then
    echo "gpu_check.sh: --seconds is a whole number and --train-minutes a number" >&2
    exit 2
fi
if [ -n "$(ls -A "$RESULTS" 2>/dev/null)" ]; then
    echo "gpu_check.sh: $RESULTS is not empty; give a new or empty results folder" >&2
    exit 2
fi
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mkdir -p "$RESULTS" && cd "$RESULTS" && pwd) || exit 2
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
PY=${PYTHON:-python3}
START=$SECONDS
SUMMARY="$OUT/summary.txt" CHECKS="$OUT/checks.log" MACHINE="$SCRATCH/machine.json"
FAILED=()
cd "$REPO" || exit 2
export PYTHONPATH="$REPO:$REPO/.gpu-deps${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

note() { echo "$*" | tee -a "$SUMMARY"; }

# part NAME CAP STDOUT STDERR COMMAND...: runs COMMAND for at most CAP seconds or what is left
# of the budget, its output appended to the two files (which may be one); SIGINT first, so
# training stops and says so. A failing part is named in the summary's last line.
part() {
    local name=$1 cap=$2 stdout=$3 stderr=$4 left
    shift 4
    left=$((BUDGET - (SECONDS - START)))
    if ((left < (cap < 15 ? cap : 15))); then
        note "$name: skipped (the ${BUDGET} s budget is spent)"
        FAILED+=("$name")
        return 1
    fi
    ((cap > left)) && cap=$left
    [ "$stdout" = "$CHECKS" ] && echo "==> $name: $* <==" >>"$CHECKS"
    local began=$SECONDS rc
    timeout --signal=INT --kill-after=10 "$cap" "$@" >>"$stdout" 2>>"$stderr"
    rc=$?
    note "$name: exit $rc after $((SECONDS - began)) s (limit $cap s)"
    if ((rc != 0)); then
        FAILED+=("$name")
        [ "$stderr" = "$CHECKS" ] || tail -n 5 "$stderr" | sed 's/^/    /' | tee -a "$SUMMARY"
    fi
    return $rc
}

# cuda_only NAME WHAT: whether a CUDA check runs here; if not, the summary says why.
cuda_only() {
    if ((SKIP_CHECKS)); then
        note "$1: skipped (--skip-checks)"
    elif [ "$DEVICE" != cuda ]; then
        note "$1: skipped (needs CUDA: $2; the device is $DEVICE)"
    else
        return 0
    fi
    return 1
}

has() { "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)"; }

: >"$SUMMARY"
note "gpu_check $(date -u +%FT%TZ) on $(hostname), repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"
note "preset $PRESET, device $DEVICE, corpus $CORPUS, budget $BUDGET s," \
    "tokenizer from ${TOKENIZER_FROM:-the corpus (a new one)}"
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version \
    --format=csv,noheader 2>&1 | tee -a "$SUMMARY"
if ! "$PY" - "$DEVICE" "$MACHINE" >>"$SUMMARY" 2>&1 <<'EOF'; then
import importlib.metadata, importlib.util, json, platform, sys
device, out = sys.argv[1:]
def found(name): return importlib.util.find_spec(name) is not None
for name in ("pytest", "chitchat_dataset"):
    print(f"{name}: {'present' if found(name) else 'missing'}")
missing = [name for name in ("torch", "sentencepiece", "safetensors", "tqdm") if not found(name)]
version = importlib.metadata.version("torch") if found("torch") else "none"
machine = {"device": device, "torch": version, "gpus": 0, "cuda": None}
if device == "cuda" and not missing:  # only CUDA's figures need torch loaded (slow on a busy CPU)
    import torch
    usable = torch.cuda.is_available()
    machine.update(gpus=torch.cuda.device_count() if usable else 0, cuda=torch.version.cuda,
                   machine=torch.cuda.get_device_name() if usable else "no usable GPU")
    print(f"bf16 {usable and torch.cuda.is_bf16_supported()}")
else:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
    except OSError:
        names = []
    machine["machine"] = names[0] if names else platform.processor() or platform.machine()
print(f"python {sys.version.split()[0]}, torch {version}, cuda {machine['cuda']}, "
      f"gpus {machine['gpus']}, machine {machine['machine']}")
major_minor = tuple(int(part) for part in version.split("+")[0].split(".")[:2] if part.isdigit())
if missing or major_minor < (2, 3) or (device == "cuda" and not machine["gpus"]):
    sys.exit(f"cannot run: torch >= 2.3 {'with CUDA ' if device == 'cuda' else ''}needed (have "
             f"{version}, gpus: {machine['gpus']}); missing: {missing or 'nothing'}")
with open(out, "w", encoding="utf-8") as handle:
    json.dump(machine, handle)
EOF
    cat "$SUMMARY" >&2
    exit 1
fi
GPUS=$("$PY" -c "import json, sys; print(json.load(open(sys.argv[1]))['gpus'])" "$MACHINE")

# train and eval without main.py, whose other commands need SQLAlchemy and Qt.
CLI="$SCRATCH/cli.py"
cat >"$CLI" <<'EOF'
import argparse, sys
from chatapp.commands import evaluate, run_command, train
from chatapp.commands.common import add_common_options
parser = argparse.ArgumentParser(prog="seq2seq-chat")
add_common_options(parser)
commands = parser.add_subparsers(dest="command")
train.register(commands)
evaluate.register(commands)
if __name__ == "__main__":
    sys.exit(run_command(parser, parser.parse_args()))
EOF

if [ "$CORPUS" = chitchat ] && ! has chitchat_dataset; then
    CORPUS=tests/fixtures/small_corpus.jsonl
    note "corpus: chitchat_dataset is missing (see the top of this script); using $CORPUS"
fi

if cuda_only tests "the engine tests on the GPU"; then
    if has pytest; then
        part tests 90 "$CHECKS" "$CHECKS" "$PY" -m pytest tests/engine --device cuda -q \
            -p no:cacheprovider -k "not two_process_run_writes and not under_torchrun" # run main.py
    else
        note "tests: skipped (no pytest on this machine)"
    fi
fi
if cuda_only train_bench "a bf16 training throughput figure"; then
    if [ "$CORPUS" = chitchat ]; then
        part train_bench 60 "$CHECKS" "$CHECKS" "$PY" bench/train_throughput.py --processes 1 \
            --device cuda --minutes 0.4
    else
        note "train_bench: skipped (it reads chitchat; no chitchat_dataset here)"
    fi
fi
if cuda_only nccl "a 2-process NCCL run"; then
    if ((GPUS >= 2)); then
        part nccl 60 "$CHECKS" "$CHECKS" "$PY" -m torch.distributed.run --standalone \
            --nproc_per_node 2 "$CLI" train --corpus tests/fixtures/small_corpus.jsonl \
            --preset tiny --out "$SCRATCH/nccl" --epochs 3 --batch-tokens 1000 --progress json \
            --device cuda
        grep -h '"world_size"' "$CHECKS" | tee -a "$SUMMARY"
    else
        note "nccl: skipped ($GPUS GPU: a 2-process NCCL run needs two)"
    fi
fi

# The training gets what the budget leaves after the parts that follow it (their caps), less
# the time to load torch, read and encode the corpus before its clock starts (chitchat: 30 s
# on this project's busy 2-core CPU, 121,222 examples), and to save at its end.
AFTER_TRAIN=$((100 + 10))
TRAIN_CAP=$((BUDGET - (SECONDS - START) - AFTER_TRAIN))
if [ -z "$TRAIN_MINUTES" ]; then
    SETUP=$([ "$CORPUS" = chitchat ] && echo 60 || echo 30)
    TRAIN_SECONDS=$((TRAIN_CAP - SETUP > 0 ? TRAIN_CAP - SETUP : 0))
    printf -v TRAIN_MINUTES '%d.%03d' $((TRAIN_SECONDS / 60)) $((TRAIN_SECONDS % 60 * 1000 / 60))
fi
TOKENIZER=()
[ -n "$TOKENIZER_FROM" ] && TOKENIZER=(--tokenizer-from "$TOKENIZER_FROM")
TRAIN=(--corpus "$CORPUS" --preset "$PRESET" "${TOKENIZER[@]}" --max-minutes "$TRAIN_MINUTES"
    --epochs 100 --eval-every 400 --patience 10 --lr-cooldown 0.2 --progress json
    --device "$DEVICE" "${TRAIN_OPTIONS[@]}")
note "train: main.py train ${TRAIN[*]}"
part train "$TRAIN_CAP" "$OUT/train.log" "$OUT/train.log" "$PY" "$CLI" train \
    --out "$SCRATCH/model" "${TRAIN[@]}"
grep -h '"event": "end"' "$OUT/train.log" | tee -a "$SUMMARY"

# model: the checkpoint as shipped (float16, no optimizer state) into RESULTS_DIR, then in the
# same process (loading torch takes seconds on a busy CPU) `eval` of it on the test split and
# its reply latency.
if [ -f "$SCRATCH/model/config.json" ]; then
    note "model: into $OUT/model (float16), its test perplexity (eval) and reply latency"
    part model 100 "$SCRATCH/decode.json" "$SCRATCH/model.log" "$PY" - "$SCRATCH" "$OUT/model" \
        "$CORPUS" "$DEVICE" "$INVOCATION" "main.py train ${TRAIN[*]}" <<'EOF'
import contextlib, json, sys, time
from pathlib import Path
scratch, target, corpus, device, *commands = sys.argv[1:]
sys.path[:0] = ["bench", scratch]
import torch
import cli
from ship_model import ship
from engine import Chatbot
from engine.decoding.config import DecodeConfig

ship(Path(scratch) / "model", Path(target), commands, "forward")
with open(Path(scratch) / "eval.json", "w", encoding="utf-8") as out, contextlib.redirect_stdout(out):
    evaluated = cli.run_command(cli.parser, cli.parser.parse_args(
        ["eval", "--model", target, "--corpus", corpus, "--split", "test", "--device", device]))
bot = Chatbot.load(target, device=device)
cuda = bot.device.type == "cuda"
sync = torch.cuda.synchronize if cuda else lambda: None
history = ["hi, how are you?", "good thanks, and you?", "what did you do today?"]
result = {"device": str(bot.device), "mmi_scorer": bot.mmi_scorer, "tokens": 20}
for strategy in ("greedy", "beam", "sample", "rerank"):
    config = DecodeConfig(strategy=strategy, max_length=20, min_length=20, seed=0)
    bot.reply(history, config)  # warm-up: kernels, allocator
    times = []
    for _ in range(5 if cuda else 2):  # the best of 5 on a GPU; a CPU run is a smoke test
        sync()
        began = time.perf_counter()
        bot.reply(history, config)
        sync()
        times.append(time.perf_counter() - began)
    result[f"{strategy}_ms"] = round(1000 * min(times), 2)
print(json.dumps(result))
sys.exit(evaluated)
EOF
else
    FAILED+=(model)
    note "model: skipped (the training wrote no model)"
fi
if [ -s "$SCRATCH/eval.json" ] && [ -s "$SCRATCH/decode.json" ]; then
    part record 10 "$SCRATCH/record.log" "$SCRATCH/record.log" "$PY" bench/run_record.py \
        --log "$OUT/train.log" --model "$OUT/model" --eval "$SCRATCH/eval.json" \
        --preset "$PRESET" --machine "$MACHINE" --decode "$SCRATCH/decode.json" \
        --command "$INVOCATION" --note "$NOTE" --out "$OUT/run.json" &&
        "$PY" bench/render_model_card.py --run "$OUT/run.json" | tail -n 1 | tee -a "$SUMMARY"
else
    FAILED+=(record)
    note "record: skipped (no test perplexity or latency: the model part failed)"
fi
note "total: $((SECONDS - START)) s; results in $OUT; failed: ${FAILED[*]:-none}"
((${#FAILED[@]} == 0))
