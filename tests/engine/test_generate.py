"""The generation loop and the `Chatbot` facade, on fake models and on the session's tiny model."""

from __future__ import annotations

import itertools

import pytest
import torch

from engine import Chatbot, DecodeConfig, GenerationError
from engine.decoding.generate import generate
from engine.tokenizer import EOS_ID, Tokenizer
from tests.engine.fakes import BigramModel, LetterTokenizer, ScriptedModel, bigram_table

PLAIN = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0}  # no processors but the bans
GREEDY = DecodeConfig(strategy="greedy", **PLAIN)
PROMPTS = [["hello"], ["what is your name?"], ["hi", "hello! nice to meet you.", "how are you?"],
           ["tell me a joke"], ["something it never saw: quantum zebras"]]  # fmt: skip


def run(model: BigramModel, config: DecodeConfig, **kwargs: object):
    return generate(model, LetterTokenizer(), [5, 6, 7], config, **kwargs)  # type: ignore[arg-type]


# --- the loop on fake models -------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_min_length_holds_back_eos(strategy: str) -> None:
    table = bigram_table(12, 0)
    table[:, EOS_ID] = 0.0  # eos is by far the likeliest everywhere
    config = DecodeConfig(strategy=strategy, min_length=4, max_length=10, beam_size=3, n_best=3,
                          seed=1, **PLAIN)  # fmt: skip
    generation = run(BigramModel(table), config)
    for hypothesis in generation.hypotheses:
        assert len(hypothesis.tokens) == 4 and hypothesis.finished


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_max_length_cuts(strategy: str) -> None:
    table = bigram_table(12, 1)
    table[:, EOS_ID] = float("-inf")
    model = BigramModel(table)
    config = DecodeConfig(strategy=strategy, min_length=0, max_length=6, beam_size=3, n_best=2,
                          seed=1, **PLAIN)  # fmt: skip
    generation = run(model, config)
    assert model.steps == 6 and generation.steps == 6
    assert [len(h.tokens) for h in generation.hypotheses] == [6] * len(generation.hypotheses)
    assert not any(h.finished for h in generation.hypotheses)


@pytest.mark.parametrize("seed", range(5))
def test_beam_of_one_is_greedy_in_the_loop(seed: int) -> None:
    table = bigram_table(15, seed)
    beam = run(BigramModel(table), GREEDY.replace(strategy="beam", beam_size=1, n_best=1))
    greedy = run(BigramModel(table), GREEDY)
    assert beam.hypotheses[0].tokens == greedy.hypotheses[0].tokens
    assert beam.texts == greedy.texts


def test_context_ngram_blocking_stops_parroting() -> None:
    user = [5, 6, 7, 8, 9, 10]  # the user's turn, "abcdef"
    table = torch.full((20, 20), -5.0)
    table[2, 5] = 0.0  # bos -> the user's first token
    for a, b in itertools.pairwise(user):
        table[a, b] = 0.0  # ... and then each next one: a parrot
    table[10, EOS_ID] = 0.0
    table = torch.log_softmax(table, dim=-1)
    parrot = run(BigramModel(table), GREEDY, user_turn_ids=user)
    assert parrot.hypotheses[0].tokens == user
    for n in (1, 2, 3):
        blocked = run(
            BigramModel(table), GREEDY.replace(block_context_ngrams=n), user_turn_ids=user
        )
        tokens = blocked.hypotheses[0].tokens
        user_grams = {tuple(user[i : i + n]) for i in range(len(user) - n + 1)}
        assert not user_grams & {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def test_context_ngram_blocking_lets_the_reply_repeat_itself() -> None:
    # The model wants "5 6 5 6 7": its own bigram "5 6" twice. The user said "8 9", so
    # blocking the user's bigrams must not change the reply (repeats are no_repeat's job).
    wanted = {2: 5, 5: 6, 6: 5, 7: EOS_ID}
    seen: list[int] = []

    def next_log_probs(token: int) -> torch.Tensor:
        scores = torch.full((20,), -5.0)
        seen.append(token)
        choice = 7 if token == 6 and seen.count(6) > 1 else wanted.get(token, EOS_ID)
        scores[choice] = 0.0
        return torch.log_softmax(scores, dim=-1)

    reply = run(BigramModel(next_log_probs), GREEDY.replace(block_context_ngrams=2),
                user_turn_ids=[8, 9])  # fmt: skip
    assert reply.hypotheses[0].tokens == [5, 6, 5, 6, 7]


def test_cancel_stops_within_one_step_and_returns_partial() -> None:
    table = bigram_table(12, 2)
    table[:, EOS_ID] = float("-inf")
    for strategy in ("greedy", "beam", "sample"):
        model, polls = BigramModel(table), []

        def should_stop(polls: list = polls) -> bool:
            polls.append(1)
            return len(polls) > 3

        config = DecodeConfig(strategy=strategy, max_length=30, seed=0, **PLAIN)
        generation = run(model, config, should_stop=should_stop)
        assert generation.cancelled
        assert model.steps == generation.steps == 3  # no step after the poll that said stop
        assert all(len(h.tokens) == 3 and not h.finished for h in generation.hypotheses)
        assert generation.texts and all(generation.texts)


def stream_of(tokenizer: Tokenizer, script: list[int], strategy: str = "greedy") -> tuple:
    model = ScriptedModel(script, tokenizer.vocab_size)
    seen: list[str] = []
    config = DecodeConfig(strategy=strategy, max_length=len(script) + 1, seed=0, min_length=0,
                          top_k=0, top_p=1.0, **PLAIN)  # fmt: skip
    generation = generate(model, tokenizer, [5], config, on_token=seen.append)
    return seen, generation.texts[0]


@pytest.mark.parametrize(
    "text",  # each opens with a word: generation bans the bare "▁" piece as the first token
    ["hi 😀 there", "ok 👩🏽‍💻 and 👨‍👩‍👧‍👦", "ok 日本語", "ok שלום مرحبا", "ok e\u0301 a\u0308",
     "plain words only"],
)  # fmt: skip
def test_streamed_text_grows_by_whole_characters(tiny_model_dir, text: str) -> None:
    tokenizer = Tokenizer.load(tiny_model_dir / "tokenizer.model")
    seen, final = stream_of(tokenizer, tokenizer.encode(text))
    assert final == text
    assert seen and seen[-1] == final
    for streamed in seen:
        assert "\ufffd" not in streamed
        assert final.startswith(streamed)


def test_invalid_bytes_never_reach_the_user(tiny_model_dir) -> None:
    tokenizer = Tokenizer.load(tiny_model_dir / "tokenizer.model")
    emoji = tokenizer.encode("😀")[-4:]  # the four byte pieces of U+1F600
    lone_byte = emoji[1]  # a continuation byte with no lead byte: never valid UTF-8
    script = [*tokenizer.encode("ok"), lone_byte, *tokenizer.encode(" fine"), emoji[0], emoji[1]]
    seen, final = stream_of(tokenizer, script)
    assert "\ufffd" not in final
    assert final.startswith("ok") and "fine" in final
    for streamed in seen:
        assert "\ufffd" not in streamed and final.startswith(streamed)


# --- the tiny model ----------------------------------------------------------------------------


def test_replies_what_it_learned(tiny_bot: Chatbot) -> None:
    reply = tiny_bot.reply(["what is your name?"], GREEDY)
    assert reply.text == "my name is chatbot."
    assert reply.alternatives[0].text == reply.text and reply.alternatives[0].finished
    assert len(reply.attention) == len(reply.tokens)
    assert all(len(row) == len(reply.context_pieces) for row in reply.attention)
    assert not reply.cancelled and reply.total_ms > 0


@pytest.mark.parametrize("prompt", PROMPTS)
def test_beam_of_one_equals_greedy(tiny_bot: Chatbot, prompt: list[str]) -> None:
    greedy = tiny_bot.reply(prompt, GREEDY)
    beam = tiny_bot.reply(prompt, GREEDY.replace(strategy="beam", beam_size=1, n_best=1))
    assert beam.tokens == greedy.tokens


@pytest.mark.parametrize("prompt", PROMPTS)
def test_sampling_with_top_k_one_equals_greedy(tiny_bot: Chatbot, prompt: list[str]) -> None:
    config = DecodeConfig(strategy="sample", top_k=1, temperature=3.0, seed=5)
    assert (
        tiny_bot.reply(prompt, config).tokens
        == tiny_bot.reply(prompt, config.replace(strategy="greedy")).tokens
    )


def test_beam_returns_ranked_alternatives(tiny_bot: Chatbot) -> None:
    config = DecodeConfig(strategy="beam", beam_size=5, n_best=5, **PLAIN)
    reply = tiny_bot.reply(["hello"], config)
    scores = [alternative.score for alternative in reply.alternatives]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    assert reply.text == reply.alternatives[0].text == "hi there! how are you?"


def test_seed_reproduces_a_sample_and_seeds_differ(tiny_bot: Chatbot) -> None:
    config = DecodeConfig(strategy="sample", temperature=2.5, top_k=0, top_p=1.0)
    prompt = ["something it never saw: quantum zebras"]
    texts = []
    for seed in range(6):
        first = tiny_bot.reply(prompt, config.replace(seed=seed))
        again = tiny_bot.reply(prompt, config.replace(seed=seed))
        assert first.tokens == again.tokens and first.seed == seed
        texts.append(first.text)
    assert len(set(texts)) >= 4
    unseeded = tiny_bot.reply(prompt, config)
    assert unseeded.seed is not None  # reported, so the reply can be reproduced
    assert tiny_bot.reply(prompt, config.replace(seed=unseeded.seed)).text == unseeded.text


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample", "rerank"])
def test_cancel_on_the_tiny_model(tiny_bot: Chatbot, strategy: str) -> None:
    steps = 0
    real_step = tiny_bot.model.step

    def counting_step(*args: object):
        nonlocal steps
        steps += 1
        return real_step(*args)

    tiny_bot.model.step = counting_step  # type: ignore[method-assign]
    polls = []

    def should_stop() -> bool:
        polls.append(steps)
        return len(polls) > 2

    config = DecodeConfig(strategy=strategy, min_length=20, max_length=20, seed=3)
    reply = tiny_bot.reply(["hello"], config, should_stop=should_stop)
    assert reply.cancelled
    assert steps == 2
    assert len(reply.tokens) == 2 and reply.text


@pytest.mark.parametrize("seed", range(8))
def test_streaming_is_prefix_of_the_final_text(tiny_bot: Chatbot, seed: int) -> None:
    # A hot temperature over the whole vocabulary draws byte pieces too: half characters.
    config = DecodeConfig(strategy="sample", temperature=5.0, top_k=0, top_p=1.0, seed=seed,
                          max_length=40, min_length=40)  # fmt: skip
    seen: list[str] = []
    reply = tiny_bot.reply(["hello 😀"], config, on_token=seen.append)
    assert seen and seen[-1] == reply.text
    assert "\ufffd" not in reply.text
    for streamed in seen:
        assert "\ufffd" not in streamed
        assert reply.text.startswith(streamed)


@pytest.mark.parametrize(
    "history", [[], [""], ["   "], ["\n\t "], ["hello", ""], ["", "hello"], ["hi", "  \u3000 "]]
)
def test_empty_turn_is_a_generation_error(tiny_bot: Chatbot, history: list[str]) -> None:
    with pytest.raises(GenerationError):
        tiny_bot.reply(history, GREEDY)


def test_long_history_is_truncated(tiny_bot: Chatbot) -> None:
    turns = [f"turn {i}: " + "words about many things " * 60 for i in range(200)]
    turns.append("x" * 100_000)  # a pasted wall of text
    context, _ = tiny_bot.prepare_context(turns)
    assert len(context) <= tiny_bot.config.max_context_tokens
    reply = tiny_bot.reply(turns, GREEDY)
    assert reply.text.strip() and reply.tokens
    assert len(reply.context_pieces) == len(context)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("prompt", ["how are you?", "my name is chatbot. what is your name?"])
def test_block_context_ngrams_on_the_tiny_model(tiny_bot: Chatbot, prompt: str, n: int) -> None:
    user = tiny_bot.tokenizer.encode(prompt)
    user_grams = {tuple(user[i : i + n]) for i in range(len(user) - n + 1)}
    for strategy in ("greedy", "beam"):
        config = DecodeConfig(strategy=strategy, block_context_ngrams=n, **PLAIN)
        for alternative_tokens in _all_tokens(tiny_bot, [prompt], config):
            grams = {tuple(alternative_tokens[i : i + n])
                     for i in range(len(alternative_tokens) - n + 1)}  # fmt: skip
            assert not grams & user_grams


def _all_tokens(bot: Chatbot, history: list[str], config: DecodeConfig) -> list[list[int]]:
    context, user = bot.prepare_context(history)
    generation = generate(bot.model, bot.tokenizer, context, config, user_turn_ids=user)
    return [hypothesis.tokens for hypothesis in generation.hypotheses]


def test_no_repeat_ngram_on_the_tiny_model(tiny_bot: Chatbot) -> None:
    config = DecodeConfig(strategy="sample", temperature=3.0, top_k=0, top_p=1.0, seed=1,
                          min_length=60, max_length=60, no_repeat_ngram_size=2,
                          repetition_penalty=1.0)  # fmt: skip
    tokens = tiny_bot.reply(["hello"], config).tokens
    bigrams = [tuple(tokens[i : i + 2]) for i in range(len(tokens) - 1)]
    assert len(bigrams) == len(set(bigrams))


def test_reply_may_open_with_the_bare_word_start_piece(tiny_model_dir) -> None:
    tokenizer = Tokenizer.load(tiny_model_dir / "tokenizer.model")
    ids = tokenizer.encode("😀 yes")
    assert tokenizer.blank_ids() == ids[:1]  # "▁" then the emoji's bytes
    seen, final = stream_of(tokenizer, ids)
    assert final == "😀 yes" and seen[-1] == final
    # ... but a reply of just that piece would read as nothing: eos is held back after it.
    _, final = stream_of(tokenizer, ids[:1])
    assert final != ""


def test_attention_follows_each_hypothesis(tiny_bot: Chatbot) -> None:
    config = DecodeConfig(strategy="beam", beam_size=4, n_best=4, **PLAIN)
    context, user = tiny_bot.prepare_context(["hi", "hello! nice to meet you.", "how are you?"])
    generation = generate(tiny_bot.model, tiny_bot.tokenizer, context, config, user_turn_ids=user)
    model = tiny_bot.model
    for hypothesis, attention in zip(generation.hypotheses, generation.attention):
        # Replay the hypothesis alone: its attention rows must be the ones the beam recorded.
        memory, hidden = model.encode(torch.tensor([context]), torch.tensor([len(context)]))
        token = torch.tensor([2])
        assert len(attention) == len(hypothesis.tokens)
        for expected_token, row in zip(hypothesis.tokens, attention):
            _, hidden, weights = model.step(token, hidden, memory)
            assert torch.allclose(weights[0], torch.tensor(row), atol=1e-5)
            token = torch.tensor([expected_token])


def test_int8_quantized_bot_replies(tiny_model_dir) -> None:
    bot = Chatbot.load(tiny_model_dir, device="cpu", quantize="int8")
    assert not bot.model.decoder.can_step_with_cells()  # the quantized GRU takes the module path
    reply = bot.reply(["what is your name?"], GREEDY)
    assert reply.text == "my name is chatbot."
