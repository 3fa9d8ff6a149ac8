"""The local API through the official `openai` client against a real server on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import openai
import pytest

from chatapp.server import ServerSettings, ServerSettingsError
from main import main
from tests.server.conftest import StartServer, client, hello

# Wild sampling: with it the tiny model's replies differ from seed to seed.
WILD = {"strategy": "sample", "temperature": 3.0, "top_k": 0, "top_p": 1.0}
GREEDY = {"strategy": "greedy"}


def test_models_list_names_the_one_model(serve: StartServer) -> None:
    models = client(serve()).models.list()
    assert [model.id for model in models.data] == ["seq2seq-chat"]


def test_a_chat_completion_is_the_models_reply(serve: StartServer, tiny_bot) -> None:
    api = client(serve())
    answer = api.chat.completions.create(**hello(extra_body=GREEDY))
    assert answer.object == "chat.completion"
    assert [c.message.content for c in answer.choices] == ["hi there! how are you?"]
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens > 0 and answer.usage.prompt_tokens > 0
    # System messages are not read (the model was never trained with one).
    with_system = api.chat.completions.create(
        model="any",
        messages=[{"role": "system", "content": "You are a pirate."},
                  {"role": "user", "content": "hello"}],
        extra_body=GREEDY,
    )  # fmt: skip
    assert with_system.choices[0].message.content == "hi there! how are you?"


def test_a_streamed_chat_completion_ends_on_done(serve: StartServer) -> None:
    server = serve()
    body = hello(stream=True, **GREEDY)
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"].get("content", "") for c in chunks[1:-1]]
    assert len(deltas) > 1  # streamed as it was generated, not in one piece
    assert "".join(deltas) == "hi there! how are you?"
    assert chunks[-1]["choices"][0] == {
        "index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"
    }  # fmt: skip
    assert all("usage" not in chunk for chunk in chunks)  # not asked for, so not sent


def test_usage_is_streamed_only_when_asked(serve: StartServer) -> None:
    api = client(serve())
    plain = list(api.chat.completions.create(**hello(stream=True, extra_body=GREEDY)))
    assert all(chunk.choices and chunk.usage is None for chunk in plain)
    asked = list(
        api.chat.completions.create(
            **hello(stream=True, stream_options={"include_usage": True}, extra_body=GREEDY)
        )
    )
    *before, last = asked
    assert last.choices == [] and last.usage.completion_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(chunk.choices and chunk.usage is None for chunk in before)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in before)
    assert text == "hi there! how are you?"


def test_the_same_seed_gives_the_same_text_and_n_gives_real_alternatives(
    serve: StartServer,
) -> None:
    api = client(serve())

    def ask(seed: int, n: int = 1) -> list[str]:
        answer = api.chat.completions.create(**hello(seed=seed, n=n, extra_body=WILD))
        return [choice.message.content for choice in answer.choices]

    assert ask(11) == ask(11)
    three = ask(11, n=3)
    assert len(three) == 3 and len(set(three)) == 3
    assert three == ask(11) + ask(12) + ask(13)  # choice i is seed + i: each can be repeated
    beams = api.chat.completions.create(**hello(n=3, temperature=0))
    assert [c.index for c in beams.choices] == [0, 1, 2]
    assert len({c.message.content for c in beams.choices}) == 3  # beam search's 3 best


def test_n_streams_each_choice(serve: StartServer) -> None:
    api = client(serve())
    texts = ["", ""]
    for chunk in api.chat.completions.create(**hello(n=2, seed=5, stream=True, extra_body=WILD)):
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    whole = api.chat.completions.create(**hello(n=2, seed=5, extra_body=WILD))
    assert texts == [choice.message.content for choice in whole.choices]


def test_stop_strings_end_the_reply(serve: StartServer) -> None:
    api = client(serve())
    answer = api.chat.completions.create(**hello(stop=["!"], extra_body=GREEDY))
    assert answer.choices[0].message.content == "hi there"
    assert answer.choices[0].finish_reason == "stop"
    streamed = api.chat.completions.create(**hello(stop="e!", stream=True, extra_body=GREEDY))
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == "hi ther"


def test_the_completions_endpoint_reads_the_prompt_as_one_turn(serve: StartServer) -> None:
    api = client(serve())
    answer = api.completions.create(model="x", prompt="hello", extra_body=GREEDY)
    assert answer.object == "text_completion"
    assert answer.choices[0].text == "hi there! how are you?"
    streamed = api.completions.create(model="x", prompt="hello", stream=True, extra_body=GREEDY)
    assert "".join(chunk.choices[0].text for chunk in streamed) == "hi there! how are you?"


def test_a_bad_or_missing_key_is_an_authentication_error(serve: StartServer) -> None:
    server = serve(api_key="s3cret")
    with pytest.raises(openai.AuthenticationError):
        client(server, key="wrong").models.list()
    assert httpx.get(f"{server.base_url}/models").status_code == 401
    assert client(server, key="s3cret").models.list().data[0].id == "seq2seq-chat"
    assert httpx.get(server.base_url.removesuffix("/v1") + "/health").json()["status"] == "ok"


@pytest.mark.parametrize(
    ("fields", "param", "says"),
    [
        ({"temperature": 9}, "temperature", "0 (beam search) or between 0.05 and 5"),
        ({"top_p": 0}, "top_p", "between 0.01 and 1"),
        ({"n": 9}, "n", "between 1 and 8"),
        ({"max_tokens": 0}, "max_tokens", "at least 1"),
        ({"seed": -1}, "seed", "between 0 and"),
        ({"presence_penalty": 3}, "presence_penalty", "between -2 and 2"),
        ({"extra_body": {"beam_size": 99}}, "beam_size", "between 1 and 16"),
        ({"extra_body": {"similar": 65}}, "similar", "between 0 and 64"),
        ({"extra_body": {"preset": "loud"}}, "preset", "precise"),
        ({"extra_body": {"candidate_search": 1}}, "candidate_search", "one of sample, beam"),
        ({"extra_body": {"strategy": "greedy"}, "n": 2}, "n", "greedy"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools", "not supported"),
        ({"logprobs": True}, "logprobs", "not supported"),
        ({"response_format": {"type": "json_object"}}, "response_format", "not supported"),
    ],
)
def test_bad_fields_are_bad_requests_naming_the_field(
    serve: StartServer, fields: dict, param: str, says: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client(serve()).chat.completions.create(**hello(**fields))
    error = raised.value.body
    assert error["param"] == param and says in error["message"], error
    assert error["type"] == "invalid_request_error"


def test_max_tokens_beyond_the_models_limit_is_capped(serve: StartServer) -> None:
    answer = client(serve()).chat.completions.create(**hello(max_tokens=10**9, extra_body=GREEDY))
    assert answer.choices[0].message.content == "hi there! how are you?"


def test_a_full_queue_answers_503_with_retry_after(serve: StartServer) -> None:
    server = serve(queue_size=8)
    url = f"{server.base_url}/chat/completions"
    statuses: list[int] = []

    def ask() -> None:
        statuses.append(httpx.post(url, json=hello(**GREEDY), timeout=60).status_code)

    with server.worker.model_lock:  # the worker takes the first request and waits for the model
        waiting = [threading.Thread(target=ask) for _ in range(8)]
        for thread in waiting:
            thread.start()
        deadline = time.monotonic() + 30
        while server.worker.pending < 8:
            assert time.monotonic() < deadline, server.worker.pending
            time.sleep(0.01)
        with pytest.raises(openai.InternalServerError) as raised:
            client(server).chat.completions.create(**hello())
        assert raised.value.status_code == 503
        assert int(raised.value.response.headers["Retry-After"]) >= 1
    for thread in waiting:
        thread.join(60)
    assert statuses == [200] * 8  # the ones queued were all answered


def test_a_foreign_host_is_refused(serve: StartServer) -> None:
    server = serve()
    url = f"{server.base_url}/models"
    rebound = httpx.get(url, headers={"Host": f"attacker.example:{server.port}"})
    assert rebound.status_code == 403 and rebound.json()["error"]["code"] == "bad_host"
    assert httpx.get(url, headers={"Host": f"localhost:{server.port}"}).status_code == 200
    assert httpx.get(url).status_code == 200


def test_a_body_over_64_kb_is_refused(serve: StartServer) -> None:
    server = serve()
    url = f"{server.base_url}/chat/completions"
    big = {"model": "x", "messages": [{"role": "user", "content": "a " * 33_000}]}
    refused = httpx.post(url, json=big)
    assert refused.status_code == 413 and "64 KB" in refused.json()["error"]["message"]
    body = json.dumps(big).encode()
    chunked = httpx.post(url, content=iter([body[:40_000], body[40_000:]]))  # no Content-Length
    assert chunked.status_code == 413
    near = {"model": "x", "messages": [{"role": "user", "content": "a " * 30_000}], **GREEDY}
    assert httpx.post(url, json=near, timeout=60).status_code == 200


def test_cors_is_off_unless_origins_are_listed(serve: StartServer) -> None:
    closed = serve()
    page = {"Origin": "http://localhost:3000"}
    answer = httpx.get(f"{closed.base_url}/models", headers=page)
    assert "access-control-allow-origin" not in answer.headers
    listed = serve(cors_origins=("http://localhost:3000",))
    allowed = httpx.get(f"{listed.base_url}/models", headers=page)
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    other = httpx.get(f"{listed.base_url}/models", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = httpx.options(
        f"{listed.base_url}/chat/completions",
        headers={**page, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"},
    )  # fmt: skip
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    with pytest.raises(ServerSettingsError, match="never"):
        ServerSettings(cors_origins=("*",))


def test_binding_every_interface_without_a_key_exits_2(capsys: pytest.CaptureFixture) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert "without an API key" in err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"messages": []}', "non-empty list"),
        (b'{"messages": [{"role": "assistant", "content": "hi"}]}', "must be the user's"),
        (b'{"messages": [{"role": "user", "content": "  "}]}', "is empty"),
        (b'{"messages": [{"role": "tool", "content": "x"}]}', "role must be"),
        (b'{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}', "only text"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "stop": [""]}', "stop must be"),
    ],
)
def test_a_malformed_body_is_one_clear_400(serve: StartServer, content: bytes, says: str) -> None:
    server = serve()
    answer = httpx.post(f"{server.base_url}/chat/completions", content=content)
    assert answer.status_code == 400 and says in answer.json()["error"]["message"], answer.text
    assert server.worker.pending == 0  # nothing was queued


def test_a_lone_surrogate_in_a_message_is_answered(serve: StartServer) -> None:
    server = serve()
    body = b'{"messages": [{"role": "user", "content": "hello \\ud800"}], "strategy": "greedy"}'
    answer = httpx.post(f"{server.base_url}/chat/completions", content=body, timeout=60)
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"]


def test_a_port_in_use_is_one_line_and_exit_2(
    tiny_model_dir, capsys: pytest.CaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--model", str(tiny_model_dir), "--device", "cpu",
                     "--port", str(port)])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert f"cannot listen on 127.0.0.1 port {port}" in err


def test_an_empty_or_missing_api_key_file_is_one_line_and_exit_2(
    tmp_path, capsys: pytest.CaptureFixture
) -> None:
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    assert main(["serve", "--host", "0.0.0.0", "--api-key-file", str(empty)]) == 2
    assert capsys.readouterr().err.strip().endswith("is empty")
    missing = tmp_path / "missing.key"
    assert main(["serve", "--api-key-file", str(missing)]) == 2
    assert "cannot read the API key" in capsys.readouterr().err


def test_a_failure_in_the_model_costs_one_request_not_the_worker(
    serve: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve()
    api = client(server)

    def fail(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (injected)")

    monkeypatch.setattr(server.worker.bot, "reply", fail)
    with pytest.raises(openai.InternalServerError) as raised:
        api.chat.completions.create(**hello())
    assert raised.value.status_code == 500 and "out of memory" in raised.value.message
    monkeypatch.undo()
    answer = api.chat.completions.create(**hello(extra_body=GREEDY))
    assert answer.choices[0].message.content == "hi there! how are you?"


def test_a_client_that_asks_again_at_once_finds_its_place_free(serve: StartServer) -> None:
    """The queue counts a request out before its answer is sent: one client asking back to
    back never meets a 503 from its own finished request, even with room for one."""
    server = serve(queue_size=1)
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        statuses = [
            http.post("/chat/completions", json=hello(max_tokens=2, **GREEDY)).status_code
            for _ in range(30)
        ]
    assert statuses == [200] * 30


def test_n_choices_of_the_pool_are_its_n_best_then_sampled_replies(tiny_pool_model_dir) -> None:
    """The pool picks among replies people wrote whatever the seed: n choices are its n best
    distinct candidates, filled up with sampled replies (seed + i) when it has fewer."""
    from chatapp.server.runner import LocalServer
    from engine import Chatbot, DecodeConfig

    pool = {"preset": "balanced", "temperature": 3.0, "top_k": 0, "top_p": 1.0}
    server = LocalServer(ServerSettings(port=0, model_dir=str(tiny_pool_model_dir), device="cpu"))
    server.start()
    try:
        assert server.worker.ready.wait(60) and server.worker.load_error is None
        ask = {"model": "seq2seq-chat", "messages": [{"role": "user", "content": "how are you?"}]}
        answer = client(server).chat.completions.create(**ask, n=4, seed=1, extra_body=pool)
    finally:
        server.stop()
    texts = [choice.message.content for choice in answer.choices]
    bot = Chatbot.load(tiny_pool_model_dir, device="cpu")
    config = DecodeConfig.from_dict(
        {**DecodeConfig().to_dict(), **server_config(pool), "seed": 1, "n_best": 4}
    )
    reply = bot.reply(["how are you?"], config)
    ranked = [alternative.text for alternative in reply.alternatives[:4]]
    sampled = [
        bot.reply(["how are you?"], config.replace(strategy="sample", seed=1 + i)).text
        for i in range(len(ranked), 4)
    ]
    assert len(texts) == 4 and all(texts)
    assert texts == ranked + sampled
    assert texts[0] == reply.text  # the first choice is the pool's reply


def test_n_choices_of_rerank_over_the_beam_are_its_n_best(serve: StartServer, tiny_bot) -> None:
    """Rerank over beam search's n-best gives the same reply whatever the seed: n choices are
    its n best, as the chat reply ranks them, not n copies."""
    from engine import DecodeConfig

    mmi_beam = {"strategy": "rerank", "candidate_search": "beam", "candidates": 5}
    assert server_config(mmi_beam)["candidate_search"] == "beam"
    answer = client(serve()).chat.completions.create(**hello(n=3, extra_body=mmi_beam))
    texts = [choice.message.content for choice in answer.choices]
    config = DecodeConfig.from_dict({**DecodeConfig().to_dict(), **server_config(mmi_beam)})
    reply = tiny_bot.reply(["hello"], config)
    assert texts == [alternative.text for alternative in reply.alternatives[:3]]
    assert len(set(texts)) == 3


def test_the_pools_similar_turns_knob_is_a_field_of_the_request() -> None:
    from engine.decoding.config import PRESETS

    assert server_config({"preset": "balanced", "similar": 4})["similar"] == 4
    assert server_config({"preset": "balanced"})["similar"] == PRESETS["balanced"].similar


def server_config(fields: dict) -> dict:
    from chatapp.server.protocol import decode_config

    body = {"messages": [{"role": "user", "content": "x"}], **fields}
    return decode_config(body, 4).to_dict()
