"""Training on two processes (DDP, gloo on the CPU): one checkpoint, the same step as one
process, and no hang when a peer dies."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import pytest
import torch

from engine.batching import encode_examples, make_batches
from engine.checkpoint import load_checkpoint
from engine.config import preset
from engine.distributed import TIMEOUT_VARIABLE, PeerLostError, process_group
from engine.model import Seq2Seq
from engine.pipeline import load_splits, pretrain
from engine.tokenizer import EOS_ID, Tokenizer
from engine.train import TrainConfig, evaluate_perplexity, train

ROOT = Path(__file__).resolve().parents[2]
CPU = torch.device("cpu")
CONFIG = preset("tiny", vocab_size=64, dropout=0.0)  # no dropout: the two ways draw no masks
PEER_TIMEOUT_S = 20


def examples() -> list[tuple[list[int], list[int]]]:
    """Eight examples in two length groups: short targets (4 tokens) and long ones (12)."""
    rng = random.Random(0)
    made = []
    for target_length in (4, 4, 4, 4, 12, 12, 12, 12):
        source = [rng.randrange(5, 64) for _ in range(5)]
        target = [rng.randrange(5, 64) for _ in range(target_length - 1)] + [EOS_ID]
        made.append((source, target))
    return made


# 4 x (5 + 12) padded tokens: the list splits into two batches of unequal target tokens (16 and
# 48), so the step checks that ranks are weighted by their tokens, not simply averaged.
TWO_BATCHES = 68


def fresh_model() -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(CONFIG)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_main(rank: int, port: int, job: str, out: str) -> None:
    """One rank, started by `spawn`: joins the group from torchrun's variables, runs `job`."""
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port), **{TIMEOUT_VARIABLE: str(PEER_TIMEOUT_S)},
    )  # fmt: skip
    torch.set_num_threads(1)
    report: dict[str, Any] = {"rank": rank}
    try:
        with process_group(CPU) as group:
            assert group is not None and group.rank == rank
            model, calls = fresh_model(), []

            def should_stop() -> bool:
                calls.append(1)
                if job == "die" and rank == 1 and len(calls) == 5:
                    os._exit(3)  # a crash: no goodbye to the other rank
                return False

            epochs = 1 if job == "step" else 10_000
            config = TrainConfig(epochs=epochs, batch_tokens=TWO_BATCHES, patience=10**6)
            result = train(
                model, cast(Tokenizer, None), examples(), examples(), config, out_dir=None,
                device=CPU, should_stop=should_stop, group=group,
            )  # fmt: skip
            report["steps"] = result.steps
            if rank == 0:
                torch.save(model.state_dict(), Path(out) / "weights.pt")
    except PeerLostError as error:
        report.update(error=str(error), at=time.monotonic())
    Path(out, f"rank{rank}.json").write_text(json.dumps(report))


def start_ranks(job: str, out: Path) -> list[multiprocessing.process.BaseProcess]:
    # A fork server that has imported torch once starts each rank in a fraction of a second;
    # a plain fork of the test process (threads, Qt) would not be safe.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "engine.train", __name__])
    port = free_port()
    ranks = [
        context.Process(target=_rank_main, args=(rank, port, job, str(out))) for rank in (0, 1)
    ]
    for process in ranks:
        process.start()
    return ranks


def test_one_ddp_step_equals_one_step_over_the_same_global_batch(tmp_path: Path) -> None:
    ranks = start_ranks("step", tmp_path)
    for process in ranks:
        process.join(timeout=120)
    assert [process.exitcode for process in ranks] == [0, 0]
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [report.get("steps") for report in reports] == [1, 1], reports

    single = fresh_model()
    config = TrainConfig(epochs=1, batch_tokens=2 * TWO_BATCHES, patience=10**6)
    result = train(
        single, cast(Tokenizer, None), examples(), examples(), config, out_dir=None, device=CPU
    )
    assert result.steps == 1  # both batches in one
    ddp = torch.load(tmp_path / "weights.pt")
    for name, value in single.state_dict().items():
        assert torch.allclose(ddp[name], value, atol=1e-5, rtol=0), name
    assert not torch.equal(ddp["embedding.weight"], fresh_model().embedding.weight)


def test_a_rank_that_dies_makes_the_other_stop_with_an_error(tmp_path: Path) -> None:
    ranks = start_ranks("die", tmp_path)
    ranks[1].join(timeout=120)
    died = time.monotonic()
    assert ranks[1].exitcode == 3
    ranks[0].join(timeout=PEER_TIMEOUT_S + 15)
    if ranks[0].is_alive():
        ranks[0].kill()
        pytest.fail("rank 0 still hangs after its peer died")
    report = json.loads((tmp_path / "rank0.json").read_text())
    assert "lost contact" in report["error"]
    assert report["at"] - died < PEER_TIMEOUT_S + 5


def test_two_process_run_writes_one_checkpoint_that_loads_and_evaluates(
    tmp_path: Path, small_corpus: Path
) -> None:
    out = tmp_path / "runs" / "model"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "main.py", "train", "--corpus", str(small_corpus), "--preset", "tiny", "--out", str(out),
        "--epochs", "2", "--batch-tokens", "1000", "--progress", "json", "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", TIMEOUT_VARIABLE: str(PEER_TIMEOUT_S)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    names = [event["event"] for event in events]
    assert names.count("start") == 1 and names.count("end") == 1  # rank 0 alone reports
    assert events[0]["world_size"] == 2
    assert events[-1]["saved"] and events[-1]["epochs_completed"] == 2
    assert [path.name for path in (tmp_path / "runs").iterdir()] == ["model"]  # no leftovers

    checkpoint = load_checkpoint(out)
    assert checkpoint.record["world_size"] == 2
    assert checkpoint.record["trainer"]["step"] == events[-1]["steps"]
    splits = load_splits(str(small_corpus), context_turns=checkpoint.config.context_turns)
    test = encode_examples(splits.test, checkpoint.tokenizer, checkpoint.config)
    perplexity = evaluate_perplexity(checkpoint.model, test, device=CPU).perplexity
    assert 1.0 < perplexity < checkpoint.config.vocab_size

    # One process goes on from it: the same format, and an epoch is all the batches again.
    train_data = encode_examples(splits.train, checkpoint.tokenizer, checkpoint.config)
    per_epoch = len(make_batches(train_data, max_tokens=1000, shuffle=False))
    resumed = pretrain(
        corpus=str(small_corpus), out_dir=out, model_config=checkpoint.config,
        train_config=TrainConfig(epochs=3, batch_tokens=1000), device=CPU, resume_from=out,
    )  # fmt: skip
    assert resumed.epochs_completed == 3
    assert resumed.steps == events[-1]["steps"] + per_epoch


def test_finetune_under_torchrun_refuses_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from main import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    code = main(["finetune", "--db", str(tmp_path / "db"), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1
    assert "runs in one process only: start it without torchrun" in error
    assert not (tmp_path / "out").exists() and not (tmp_path / "db").exists()
