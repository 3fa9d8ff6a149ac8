"""The turn encoder: distilled from a teacher's vectors, saved and read back, refused clearly
when damaged, and used by the pool to find replies to turns near yours in meaning."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from engine import Chatbot, DecodeConfig
from engine.checkpoint import load_tokenizer
from engine.data import read_jsonl, split_examples
from engine.errors import CheckpointError
from engine.retrieval import INDEX_FILE, ReplyIndex, query_words
from engine.similar_turns import SimilarTurns
from engine.sources import ReplySource
from engine.tokenizer import Tokenizer
from engine.turn_encoder import (
    TURN_ENCODER_DIR,
    TurnEncoder,
    TurnEncoderConfig,
    load_turn_encoder,
    save_turn_encoder,
)
from engine.turn_encoder_train import DistillSettings, distill_turn_encoder

# Turns of three meanings; the teacher gives each meaning its own direction, so a student that
# learned the teacher puts "my puppy is ill" near "my dog is sick" though they share no word.
TOPICS = {
    "pets": ["my dog is sick", "my puppy is ill", "the cat will not eat", "my kitten is poorly",
             "our dog hurt its paw", "the vet said my cat is unwell", "my pet is not well"],
    "food": ["I had pizza for lunch", "we ate sushi tonight", "I cooked pasta", "dinner was tacos",
             "I love eating noodles", "lunch was a burger", "we baked bread"],
    "weather": ["it is raining again", "so much snow today", "the sun is out", "it is very windy",
                "a storm is coming", "the weather is cold", "it rained all day"],
}  # fmt: skip


def teacher_of(texts: list[str]) -> torch.Tensor:
    directions = torch.eye(len(TOPICS), 8)
    topic_of = {text: row for row, turns in enumerate(TOPICS.values()) for text in turns}
    return torch.stack([directions[topic_of[text]] for text in texts])


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Tokenizer:
    return load_tokenizer(tiny_model_dir)


@pytest.fixture(scope="module")
def distilled(tokenizer: Tokenizer) -> TurnEncoder:
    texts = [text for turns in TOPICS.values() for text in turns]
    settings = DistillSettings(epochs=30, batch_size=8, learning_rate=1e-2)
    encoder, history = distill_turn_encoder(tokenizer, texts * 4, teacher_of(texts * 4), settings)
    assert history[-1].loss < history[0].loss
    return encoder


def test_the_student_learns_the_teachers_vectors(
    distilled: TurnEncoder, tokenizer: Tokenizer
) -> None:
    texts = [text for turns in TOPICS.values() for text in turns]
    with torch.no_grad():
        vectors = distilled(_ids(tokenizer, texts))
    teacher = teacher_of(texts)
    assert float((vectors * teacher).sum(1).mean()) > 0.8
    # A turn's nearest other turn means the same ("my puppy is ill" -> a pet's illness); a
    # turn whose pieces were all held out from training may miss.
    nearest = (vectors @ vectors.T).fill_diagonal_(-2.0).argmax(1)
    same = (teacher[nearest] * teacher).sum(1)
    assert float(same.mean()) >= 0.9


def test_distilling_refuses_a_teacher_that_does_not_match_the_turns(tokenizer: Tokenizer) -> None:
    texts = TOPICS["pets"] * 4
    with pytest.raises(ValueError, match="one teacher vector per turn"):
        distill_turn_encoder(tokenizer, texts, torch.zeros(3, 8), DistillSettings(epochs=1))


def test_a_saved_encoder_reads_back_with_its_own_tokenizer(
    distilled: TurnEncoder, tokenizer: Tokenizer, tmp_path: Path
) -> None:
    save_turn_encoder(distilled, tokenizer, tmp_path / "enc", training={"turns": 42})
    loaded = load_turn_encoder(tmp_path / "enc")
    texts = ["my dog is sick", "it is raining again"]
    assert loaded.tokenizer.to_bytes() == tokenizer.to_bytes()
    assert torch.allclose(loaded.encode(texts), distilled(_ids(tokenizer, texts)), atol=2e-2)
    config = json.loads((tmp_path / "enc" / "config.json").read_text())
    assert config["training"] == {"turns": 42}


def test_a_figure_that_is_not_finite_is_saved_as_null(tokenizer: Tokenizer, tmp_path: Path) -> None:
    # A distillation with no held-out turns measures NaN: JSON has no NaN (json.dumps writes
    # it anyway, and other tools refuse the file).
    encoder = TurnEncoder(TurnEncoderConfig(tokenizer.vocab_size, buckets=8, dim=8, out_dim=8))
    training = {"turns": 42, "held_out_cosine": math.nan, "losses": [0.5, math.inf]}
    save_turn_encoder(encoder, tokenizer, tmp_path / "enc", training=training)
    text = (tmp_path / "enc" / "config.json").read_text(encoding="utf-8")
    config = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not strict"))
    assert config["training"] == {"turns": 42, "held_out_cosine": None, "losses": [0.5, None]}
    assert load_turn_encoder(tmp_path / "enc").tokenizer.vocab_size == tokenizer.vocab_size


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda folder: (folder / "config.json").unlink(), "no readable turn encoder"),
        (lambda folder: (folder / "config.json").write_text('{"format": "x"}'), "not a turn"),
        (lambda folder: (folder / "model.safetensors").write_bytes(b"\0" * 64), "cannot be read"),
        (lambda folder: (folder / "tokenizer.model").unlink(), "cannot read tokenizer"),
    ],
)
def test_a_damaged_encoder_is_refused_with_the_reason(
    distilled: TurnEncoder, tokenizer: Tokenizer, tmp_path: Path, damage, message: str
) -> None:
    folder = tmp_path / "enc"
    save_turn_encoder(distilled, tokenizer, folder, training={})
    damage(folder)
    with pytest.raises(CheckpointError, match=message):
        load_turn_encoder(folder)


@pytest.fixture(scope="module")
def similar_pool_dir(
    tiny_pool_model_dir: Path, tokenizer: Tokenizer, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The pool model with a turn encoder beside its index, distilled from a teacher that
    says which fixture turns mean the same as which (each turn with its own reply's topic)."""
    folder = tmp_path_factory.mktemp("similar") / "model"
    shutil.copytree(tiny_pool_model_dir, folder)
    index = ReplyIndex.open(folder / INDEX_FILE)
    turns = list(dict.fromkeys(row[0] for row in index.rows()))
    index.close()
    # The teacher: a turn's vector is its words' random vectors summed (a bag of words), so
    # two turns are near when they share words; the student must learn that from pieces.
    generator = torch.Generator().manual_seed(0)
    words = sorted({word for turn in turns for word in query_words(turn)})
    word_vectors = dict(zip(words, torch.randn(len(words), 16, generator=generator)))
    teacher = torch.stack([sum(word_vectors[w] for w in query_words(t)) for t in turns])
    teacher = torch.nn.functional.normalize(teacher, dim=1)
    settings = DistillSettings(epochs=30, batch_size=16, learning_rate=1e-2)
    encoder, _ = distill_turn_encoder(tokenizer, turns, teacher, settings)
    save_turn_encoder(encoder, tokenizer, folder / TURN_ENCODER_DIR, training={})
    return folder


def test_similar_turns_finds_replies_to_the_nearest_turns(similar_pool_dir: Path) -> None:
    index = ReplyIndex.open(similar_pool_dir / INDEX_FILE)
    similar = SimilarTurns(load_turn_encoder(similar_pool_dir / TURN_ENCODER_DIR), index)
    prompt, reply = index.rows()[0][:2]
    found = similar.search(prompt, 5)
    assert found and found[0].reply == reply and found[0].prompt == prompt
    assert all(0.0 <= item.similarity <= 1.0 for item in found)
    assert [item.similarity for item in found] == sorted(
        (item.similarity for item in found), reverse=True
    )
    assert len({" ".join(query_words(item.reply)) for item in found}) == len(found)
    assert similar.search("?!", 5) == []


def test_the_pool_takes_replies_to_similar_turns_and_says_where_they_came_from(
    similar_pool_dir: Path, small_corpus: Path
) -> None:
    bot = Chatbot.load(similar_pool_dir, device="cpu")
    config = DecodeConfig(strategy="pool", candidates=2, retrieved=0, similar=6, seed=1)
    train = split_examples(read_jsonl(small_corpus), context_turns=3)["train"]
    turn = train[0].context[-1]
    reply = bot.reply([turn], config)
    people = [item for item in reply.alternatives if item.source is ReplySource.CORPUS]
    assert people, "the word search was off, so these came from the turn encoder"
    assert all(item.origin.startswith("small conversation ") for item in people)
    assert bot.similar_problem is None


def test_a_model_without_a_turn_encoder_pools_as_before_and_says_why(
    tiny_pool_model_dir: Path,
) -> None:
    bot = Chatbot.load(tiny_pool_model_dir, device="cpu")
    config = DecodeConfig(strategy="pool", candidates=2, retrieved=4, similar=6, seed=1)
    reply = bot.reply(["hello"], config)
    assert reply.text
    assert bot.similar_turns() is None
    assert "no readable turn encoder" in (bot.similar_problem or "")


def _ids(tokenizer: Tokenizer, texts: list[str]) -> torch.Tensor:
    from engine.turn_encoder import piece_batch

    return piece_batch(tokenizer, texts)


def test_saving_over_an_encoder_replaces_it_and_leaves_nothing_beside_it(
    distilled: TurnEncoder, tokenizer: Tokenizer, tmp_path: Path
) -> None:
    folder = tmp_path / TURN_ENCODER_DIR
    save_turn_encoder(distilled, tokenizer, folder, training={"run": 1})
    save_turn_encoder(distilled, tokenizer, folder, training={"run": 2})
    assert json.loads((folder / "config.json").read_text())["training"] == {"run": 2}
    assert sorted(path.name for path in tmp_path.iterdir()) == [TURN_ENCODER_DIR]


def test_the_index_is_encoded_once_for_the_first_reply_that_asks(similar_pool_dir: Path) -> None:
    bot = Chatbot.load(similar_pool_dir, device="cpu")
    bot.reply(["hello"], DecodeConfig(strategy="pool", candidates=2, retrieved=2, seed=1))
    assert bot._similar is None  # a pool without `similar` does not pay for the encoding
    similar = bot.similar_turns()
    assert similar is not None and len(similar) == len(bot.index)
    assert bot.similar_turns() is similar
    config = DecodeConfig(strategy="pool", candidates=2, retrieved=0, similar=3, seed=1)
    assert bot.reply(["hello"], config).text


def test_nearness_in_meaning_replaces_the_word_cosine_only_when_similar_is_on(
    similar_pool_dir: Path, small_corpus: Path
) -> None:
    from engine.pooled_reply import corpus_entries

    bot = Chatbot.load(similar_pool_dir, device="cpu")
    turn = split_examples(read_jsonl(small_corpus), context_turns=3)["train"][0].context[-1]
    by_words = corpus_entries(bot, turn, 4)
    by_meaning = corpus_entries(bot, turn, 4, by_meaning=True)
    assert [entry.text for entry in by_words] == [entry.text for entry in by_meaning]
    found = bot.index.search(turn, 4)
    assert [entry.similarity for entry in by_words] == [item.similarity for item in found]
    encoder = bot.turn_encoder()
    vectors = encoder.encode([turn, *(item.prompt for item in found)])
    expected = (vectors[1:] @ vectors[0]).clamp(min=0.0).tolist()
    assert [entry.similarity for entry in by_meaning] == pytest.approx(expected, abs=1e-5)
    assert [entry.similarity for entry in by_meaning] != [e.similarity for e in by_words]


def test_reply_fit_adds_each_persons_reply_its_nearness_in_meaning_to_your_turn(
    similar_pool_dir: Path, small_corpus: Path
) -> None:
    bot = Chatbot.load(similar_pool_dir, device="cpu")
    turn = split_examples(read_jsonl(small_corpus), context_turns=3)["train"][0].context[-1]
    plain = DecodeConfig(strategy="pool", candidates=2, retrieved=6, seed=1)
    before = {item.text: item for item in bot.reply([turn], plain).alternatives}
    fitted = bot.reply([turn], plain.replace(fit_weight=10.0))
    people = [item for item in fitted.alternatives if item.source is ReplySource.CORPUS]
    assert people
    nearness = bot.turn_encoder().nearness(turn, [item.text for item in people])
    for item, near in zip(people, nearness):
        assert item.score - before[item.text].score == pytest.approx(10.0 * near, abs=1e-4)
    assert any(near > 0 for near in nearness)
    model_made = [item for item in fitted.alternatives if item.source is ReplySource.MODEL]
    assert all(item.score == pytest.approx(before[item.text].score) for item in model_made)
    assert fitted.text == fitted.alternatives[0].text  # the best after the fit is the reply


def test_reply_fit_changes_nothing_for_a_model_without_a_turn_encoder(
    tiny_pool_model_dir: Path,
) -> None:
    bot = Chatbot.load(tiny_pool_model_dir, device="cpu")
    plain = DecodeConfig(strategy="pool", candidates=2, retrieved=6, seed=1)
    before = bot.reply(["hello there"], plain)
    fitted = bot.reply(["hello there"], plain.replace(fit_weight=10.0))
    assert bot.turn_encoder() is None
    assert [(a.text, a.score) for a in fitted.alternatives] == [
        (a.text, a.score) for a in before.alternatives
    ]
