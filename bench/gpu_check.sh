#!/usr/bin/env bash
# The prepared GPU check: run it as-is on a machine with an NVIDIA GPU.
#
#   bench/gpu_check.sh RESULTS_DIR          (PYTHON=/path/to/python3 to pick the interpreter)
#
# Uses the machine's own PyTorch (>= 2.3) with sentencepiece, safetensors and tqdm (pytest for
# the tests); installs nothing and needs no Qt or SQLAlchemy (train and eval run through a
# small entry point written to the scratch folder, not main.py). Ends within 8 minutes: every
# part runs under `timeout`, cut to what is left of a 460 s budget. Writes at most 8 files to
# RESULTS_DIR (models go to a scratch folder):
#   summary.txt     machine, torch, each part's exit code and seconds, skips and why
#   tests.log       pytest tests/engine --device cuda
#   train_bench.log bench/train_throughput.py --processes 1 --device cuda (tokens/s, bf16)
#   nccl.log        a 2-process NCCL training run (only with 2+ GPUs)
#   base_train.log  main.py train --preset base on chitchat, JSON progress
#   base_eval.log   main.py eval of that model (JSON)
#   decode.log      greedy, beam, sampling and rerank latency of that model on the GPU (JSON)
# The chitchat corpus comes from the `chitchat_dataset` package; where that is missing, copy
# its folder into .gpu-deps/ of this checkout first (this script puts .gpu-deps on PYTHONPATH):
#   mkdir -p .gpu-deps && cp -r .venv/lib/python3*/site-packages/chitchat_dataset .gpu-deps/
# Without it the train benchmark is skipped and `base` trains on the test fixture corpus.
# Reading chitchat and training its tokenizer take about a minute before `base` trains.
set -uo pipefail

if [ $# -ne 1 ]; then
    echo "usage: bench/gpu_check.sh RESULTS_DIR" >&2
    exit 2
fi
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
SCRATCH=$(mktemp -d)
PY=${PYTHON:-python3}
BUDGET=${GPU_CHECK_SECONDS:-460}
START=$SECONDS
SUMMARY="$OUT/summary.txt"
cd "$REPO" || exit 2
export PYTHONPATH="$REPO:$REPO/.gpu-deps${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

note() { echo "$*" | tee -a "$SUMMARY"; }

# part NAME CAP_SECONDS COMMAND...: runs COMMAND with its output in NAME.log, for at most
# CAP_SECONDS or what is left of the budget; SIGINT first, so training stops and says so.
part() {
    local name=$1 cap=$2 left
    shift 2
    left=$((BUDGET - (SECONDS - START)))
    ((cap > left)) && cap=$left
    if ((cap < 15)); then
        note "$name: skipped (the ${BUDGET} s budget is spent)"
        return 1
    fi
    local began=$SECONDS rc
    timeout --signal=INT --kill-after=10 "$cap" "$@" >"$OUT/$name.log" 2>&1
    rc=$?
    note "$name: exit $rc after $((SECONDS - began)) s (limit $cap s)"
    return $rc
}

: >"$SUMMARY"
note "gpu_check $(date -u +%FT%TZ) on $(hostname), repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$SUMMARY"
if ! "$PY" - >>"$SUMMARY" 2>&1 <<'EOF'; then
import importlib.util, sys, torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, cuda {torch.version.cuda}, "
      f"gpus {torch.cuda.device_count()}, bf16 {torch.cuda.is_available() and torch.cuda.is_bf16_supported()}")
version = tuple(int(part) for part in torch.__version__.split("+")[0].split(".")[:2])
missing = [name for name in ("sentencepiece", "safetensors", "tqdm") if not importlib.util.find_spec(name)]
for name in ("pytest", "chitchat_dataset"):
    print(f"{name}: {'present' if importlib.util.find_spec(name) else 'missing'}")
if version < (2, 3) or not torch.cuda.is_available() or missing:
    sys.exit(f"cannot run: torch >= 2.3 with CUDA needed (have {torch.__version__}, "
             f"cuda available: {torch.cuda.is_available()}); missing: {missing or 'nothing'}")
EOF
    cat "$SUMMARY" >&2
    exit 1
fi
GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count())")
has() { "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)"; }

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
sys.exit(run_command(parser, parser.parse_args()))
EOF

if has pytest; then
    part tests 100 "$PY" -m pytest tests/engine --device cuda -q -p no:cacheprovider \
        -k "not two_process_run_writes and not under_torchrun"  # these two run main.py
else
    note "tests: skipped (no pytest on this machine)"
fi

if has chitchat_dataset; then
    CORPUS=chitchat
    part train_bench 60 "$PY" bench/train_throughput.py --processes 1 --device cuda --minutes 0.4
else
    CORPUS=tests/fixtures/small_corpus.jsonl
    note "train_bench: skipped (no chitchat_dataset: see the top of this script)"
fi

if ((GPUS >= 2)); then
    part nccl 60 "$PY" -m torch.distributed.run --standalone --nproc_per_node 2 "$CLI" train \
        --corpus tests/fixtures/small_corpus.jsonl --preset tiny --out "$SCRATCH/nccl" \
        --epochs 3 --batch-tokens 1000 --progress json --device cuda
    grep -h '"world_size"' "$OUT/nccl.log" | tee -a "$SUMMARY"
else
    note "nccl: skipped (one GPU: a 2-process NCCL run needs two)"
fi

note "base: corpus $CORPUS"
part base_train 180 "$PY" "$CLI" train --corpus "$CORPUS" --preset base --out "$SCRATCH/base" \
    --max-minutes 1 --eval-every 400 --progress json --device cuda
tail -n 1 "$OUT/base_train.log" >>"$SUMMARY"
if [ -f "$SCRATCH/base/config.json" ]; then
    part base_eval 35 "$PY" "$CLI" eval --model "$SCRATCH/base" --corpus "$CORPUS" --split test \
        --limit 2000 --device cuda
    part decode 35 "$PY" - "$SCRATCH/base" <<'EOF'
import json, sys, time
import torch
from engine import Chatbot
from engine.decoding.config import DecodeConfig

bot = Chatbot.load(sys.argv[1], device="cuda")
history = ["hi, how are you?", "good thanks, and you?", "what did you do today?"]
result = {"device": torch.cuda.get_device_name(), "mmi_scorer": bot.mmi_scorer, "tokens": 20}
for strategy in ("greedy", "beam", "sample", "rerank"):
    config = DecodeConfig(strategy=strategy, max_length=20, min_length=20, seed=0)
    bot.reply(history, config)  # warm-up: kernels, allocator
    times = []
    for _ in range(5):
        torch.cuda.synchronize()
        began = time.perf_counter()
        bot.reply(history, config)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    result[f"{strategy}_ms"] = round(1000 * min(times), 2)
print(json.dumps(result, indent=2))
EOF
else
    note "base_eval, decode: skipped (base training wrote no model)"
fi
note "total: $((SECONDS - START)) s; results in $OUT; models in $SCRATCH"
