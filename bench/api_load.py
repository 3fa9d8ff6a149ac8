"""Load check of the local API: N concurrent clients against `main.py serve` on loopback.

Starts the server as a user would (`main.py serve --port 0` with a random key, the shipped
model unless --model) and has `--clients` threads each send chat completions back to back,
each a prompt from a fixed list, until `--seconds` have passed or `--max-requests` were sent
(both bounded: loopback only, nothing runs on past them). Prints one JSON object:
requests/s, p50/p99 latency, and the count of 200s, 503s (the queue limit: more than 8
requests waiting or running) and anything else (which should be 0).

    python bench/api_load.py [--clients 8] [--seconds 60] [--max-requests 5000] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
PROMPTS = (
    "hello", "how are you?", "what do you do for fun?", "do you like music?",
    "what is your favourite food?", "where do you live?", "tell me about your weekend",
    "i just got a new puppy", "are you a student?", "what are you reading?",
)  # fmt: skip
MAX_CLIENTS, MAX_SECONDS, MAX_REQUESTS = 64, 600, 100_000


def start_server(model: str | None, key: str) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "main.py", "serve", "--port", "0", "--api-key", key]
    if model:
        command += ["--model", model]
    server = subprocess.Popen(command, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
    line = server.stderr.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+/v1", line)
    if not found:
        server.kill()
        raise SystemExit(f"the server did not start: {line.strip()}")
    return server, found.group(0)


class Tally:
    """What the clients saw, shared between their threads."""

    def __init__(self, max_requests: int) -> None:
        self.lock = threading.Lock()
        self.left = max_requests
        self.latencies: list[float] = []
        self.status = {"200": 0, "503": 0, "other": 0}
        self.other_examples: list[str] = []

    def take(self) -> bool:
        """One more request may be sent (the count is bounded)."""
        with self.lock:
            self.left -= 1
            return self.left >= 0

    def add(self, status: int | str, seconds: float) -> None:
        with self.lock:
            kind = str(status) if status in (200, 503) else "other"
            self.status[kind] += 1
            if status == 200:
                self.latencies.append(seconds)
            elif kind == "other" and len(self.other_examples) < 5:
                self.other_examples.append(str(status))


def client(url: str, key: str, first: int, step: int, deadline: float, tally: Tally) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
        turn = first
        while time.monotonic() < deadline and tally.take():
            prompt = PROMPTS[turn % len(PROMPTS)]
            turn += step
            body = {"model": "seq2seq-chat", "messages": [{"role": "user", "content": prompt}]}
            started = time.perf_counter()
            try:
                status: int | str = http.post("/chat/completions", json=body).status_code
            except httpx.HTTPError as error:
                status = type(error).__name__
            tally.add(status, time.perf_counter() - started)
            if status == 503:
                time.sleep(0.05)  # as a polite client would, briefly


def run_clients(url: str, key: str, clients: int, seconds: float, max_requests: int) -> dict:
    tally = Tally(max_requests)
    started = time.monotonic()
    threads = [
        threading.Thread(target=client, args=(url, key, i, clients, started + seconds, tally))
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    ordered = sorted(tally.latencies)

    def quantile(q: float) -> float | None:
        if not ordered:
            return None
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": sum(tally.status.values()),
        "requests_per_s": round(tally.status["200"] / wall, 2),
        "latency_ms": {"p50": quantile(0.5), "p99": quantile(0.99)},
        "status": tally.status,
        "other_examples": tally.other_examples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-requests", type=int, default=5_000)
    parser.add_argument("--model", help="model directory (default: the shipped model)")
    args = parser.parse_args()
    if not (1 <= args.clients <= MAX_CLIENTS and 0 < args.seconds <= MAX_SECONDS
            and 1 <= args.max_requests <= MAX_REQUESTS):  # fmt: skip
        parser.error(f"--clients 1..{MAX_CLIENTS}, --seconds up to {MAX_SECONDS}, "
                     f"--max-requests 1..{MAX_REQUESTS}")  # fmt: skip
    key = secrets.token_urlsafe(16)
    server, url = start_server(args.model, key)
    try:
        result = run_clients(url, key, args.clients, args.seconds, args.max_requests)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    result.update(
        model=args.model or "resources/model",
        preset="balanced (the default: rerank of 16 samples)",
        queue_size=8,
        cpu_count=os.cpu_count(),
        load_average_1m=round(os.getloadavg()[0], 2),
        server_exit_code=server.returncode,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
