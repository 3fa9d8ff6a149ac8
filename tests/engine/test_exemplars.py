"""Retrieve and refine: the exemplar's place in the encoder input, the exemplars a model trains
on (never from the example's own conversation), the mix of kinds, and training with them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine.batching import encode_context
from engine.checkpoint import load_checkpoint
from engine.config import preset
from engine.data import Example, read_jsonl, split_examples
from engine.errors import DataError
from engine.exemplars import (
    ExemplarMix,
    FoundReplies,
    ReplyFinder,
    load_exemplars,
    with_exemplars,
    word_overlap,
    write_exemplars,
)
from engine.model import Seq2Seq
from engine.pipeline import pretrain
from engine.retrieval import INDEX_FILE, ReplyIndex, build_index
from engine.tokenizer import SEP_ID
from engine.train import TrainConfig


@pytest.fixture(scope="module")
def splits(small_corpus: Path) -> dict[str, list[Example]]:
    return split_examples(read_jsonl(small_corpus), context_turns=3)


@pytest.fixture(scope="module")
def index(splits: dict[str, list[Example]], tmp_path_factory: pytest.TempPathFactory) -> ReplyIndex:
    path = tmp_path_factory.mktemp("index") / INDEX_FILE
    build_index(splits["train"], path, corpus="small")
    return ReplyIndex.open(path)


@pytest.fixture(scope="module")
def exemplars_file(
    splits: dict[str, list[Example]], index: ReplyIndex, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("exemplars") / "exemplars.jsonl"
    write_exemplars(splits, index, path, corpus="small")
    return path


def test_the_encoder_reads_the_exemplar_after_its_marker(tiny_model_dir: Path) -> None:
    tokenizer = load_checkpoint(tiny_model_dir).tokenizer
    config = preset("tiny", vocab_size=tokenizer.vocab_size, exemplar=True)
    turns = ["hello", "hi there! how are you?"]
    plain = encode_context(tokenizer, turns, config)
    refined = encode_context(tokenizer, turns, config, "i am fine, thanks")
    assert refined[: len(plain)] == plain
    assert refined[len(plain)] == config.exemplar_id == tokenizer.vocab_size
    assert tokenizer.decode(refined[len(plain) + 1 :]) == "i am fine, thanks"
    # The marker is past every piece: no text, however odd, encodes to it.
    odd = "<exemplar> <sep> \u2581 \U0001f600 " + "".join(map(chr, range(33, 127)))
    assert max(tokenizer.encode(odd)) < config.exemplar_id
    # A model that reads no exemplar is given none, and no text gives an empty encoder input.
    assert encode_context(tokenizer, turns, replace(config, exemplar=False), "i am fine") == plain
    assert encode_context(tokenizer, [""], config) == [SEP_ID]


def test_the_marker_has_an_embedding_row_but_is_never_an_output() -> None:
    config = preset("tiny", exemplar=True)
    model = Seq2Seq(config).eval()
    assert model.embedding.weight.shape[0] == config.vocab_size + 1
    src = torch.tensor([[5, 6, config.exemplar_id, 7]])
    logits = model(src, torch.tensor([4]), torch.tensor([[2, 8]]))
    assert logits.shape[-1] == config.vocab_size


def test_exemplars_never_come_from_the_examples_own_conversation(
    splits: dict[str, list[Example]], index: ReplyIndex
) -> None:
    train = splits["train"]
    found = ReplyFinder(index).find(train)
    owners = {(prompt, reply): conversation for prompt, reply, conversation in index.pairs()}
    by_reply: dict[str, set[str]] = {}
    for (_, reply), conversation in owners.items():
        by_reply.setdefault(reply, set()).add(conversation)
    assert sum(bool(replies) for replies in found) > len(train) // 2
    for example, replies in zip(train, found):
        assert example.response not in replies
        for reply in replies:
            assert by_reply[reply] - {example.conversation}, (example, reply)


def test_the_best_match_comes_first(index: ReplyIndex) -> None:
    [found] = ReplyFinder(index).find(
        [Example(("what is your name?",), "unused", conversation="elsewhere")]
    )
    assert found[0] == "my name is chatbot."
    [nothing] = ReplyFinder(index).find([Example(("zzzz qqqq",), "x", conversation="c")])
    assert nothing == ()


def test_the_file_reads_back_line_for_line(
    exemplars_file: Path, splits: dict[str, list[Example]]
) -> None:
    found = load_exemplars(exemplars_file)
    assert set(found) == {"train", "valid", "test"}
    for split, examples in splits.items():
        assert len(found[split]) == len(examples)
        for position, example in enumerate(examples):
            assert found[split][position].conversation == example.conversation


def test_a_file_that_is_not_exemplars_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"format": "something else"}\n')
    with pytest.raises(DataError, match="not an exemplars file"):
        load_exemplars(path)
    path.write_text(json.dumps({"format": "seq2seq-chat-exemplars/1"}) + '\n{"split": 1}\n')
    with pytest.raises(DataError, match="line 2: not an exemplars line"):
        load_exemplars(path)
    with pytest.raises(DataError, match="cannot read exemplars file"):
        load_exemplars(tmp_path / "missing.jsonl")


def test_a_file_of_another_corpus_is_refused(splits: dict[str, list[Example]]) -> None:
    wrong = {0: FoundReplies("train", 0, "not-" + splits["train"][0].conversation, ("hi",))}
    with pytest.raises(DataError, match="does not match the corpus"):
        with_exemplars(splits["train"], wrong, split="train", mix=ExemplarMix())


def test_the_mix_decides_each_examples_exemplar() -> None:
    example = Example(("what do you like?",), "i like red apples", conversation="c")
    found = {0: FoundReplies("train", 0, "c", ("i like music", "i like red apples too", "no"))}

    def pick(mix: ExemplarMix, split: str = "train") -> str:
        return with_exemplars([example], found, split=split, mix=mix)[0].exemplar

    assert pick(ExemplarMix(none=1.0, closest=0.0, gold=0.0)) == ""
    assert pick(ExemplarMix(none=0.0, closest=0.0, gold=1.0)) == "i like red apples"
    assert pick(ExemplarMix(none=0.0, closest=1.0, gold=0.0)) == "i like red apples too"
    assert pick(ExemplarMix(none=0.0, closest=0.0, gold=0.0)) == "i like music"
    # Validation reads what chat would offer: the first reply found, whatever the mix.
    assert pick(ExemplarMix(none=0.0, closest=0.0, gold=1.0), split="valid") == "i like music"
    assert word_overlap("red apples are good", "i like red apples") == 0.5
    with pytest.raises(DataError, match="sum to at most 1"):
        ExemplarMix(none=0.6, closest=0.6, gold=0.0)


def test_a_model_started_from_one_without_exemplars_learns_to_read_them(
    tiny_model_dir: Path, small_corpus: Path, exemplars_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "refine"
    result = pretrain(
        corpus=str(small_corpus),
        out_dir=out,
        model_config=preset("tiny"),
        train_config=TrainConfig(epochs=1, batch_tokens=1000, learning_rate=1e-2),
        device=torch.device("cpu"),
        init_from=tiny_model_dir,
        exemplars=exemplars_file,
    )
    assert result.saved
    refined, source = load_checkpoint(out), load_checkpoint(tiny_model_dir)
    assert refined.config.exemplar and not source.config.exemplar
    assert refined.record["exemplars"]["file"] == str(exemplars_file)
    weights = refined.model.embedding.weight
    assert weights.shape[0] == source.model.embedding.weight.shape[0] + 1
    # The marker's row starts as the mean word and is trained from there; the rest carry over.
    assert not torch.equal(weights[-1], torch.zeros_like(weights[-1]))


def test_a_refine_model_reads_the_pools_best_retrieved_reply_before_writing(
    tiny_refine_model_dir: Path,
) -> None:
    from engine import Chatbot
    from engine.decoding.config import DecodeConfig
    from engine.sources import ReplySource

    bot = Chatbot.load(tiny_refine_model_dir, device="cpu")
    beam = DecodeConfig(strategy="beam", beam_size=3, n_best=3)
    reply = bot.reply(["what is your name?"], beam)
    assert reply.source is ReplySource.MODEL
    # The exemplar is a reply people wrote, from the index, and the model's input shows it.
    retrieved = [hit.reply for hit in bot.index.search("what is your name?", 32)]
    assert reply.exemplar in retrieved
    assert "conversation" in reply.exemplar_origin
    marker = reply.context_pieces.index(bot.tokenizer.piece(bot.config.exemplar_id))
    exemplar_pieces = reply.context_pieces[marker + 1 :]
    assert exemplar_pieces == bot.tokenizer.pieces(bot.tokenizer.encode(reply.exemplar))
    assert len(reply.attention[0]) == len(reply.context_pieces)  # attends over it too
    # "none": the same model writes alone; no marker in its input.
    alone = bot.reply(["what is your name?"], replace(beam, refine="none"))
    assert alone.exemplar == ""
    assert len(alone.context_pieces) == marker


def test_the_pool_scores_a_refined_reply_on_the_context_alone(tiny_refine_model_dir: Path) -> None:
    """A refined sample and a retrieved reply compete on one scale: the forward term is
    log p(reply | context) per token, never conditioned on the exemplar."""
    from engine import Chatbot
    from engine.decoding.config import DecodeConfig
    from engine.sources import ReplySource
    from engine.tokenizer import BOS_ID, EOS_ID

    bot = Chatbot.load(tiny_refine_model_dir, device="cpu")
    config = DecodeConfig(strategy="pool", candidates=4, retrieved=8, generated_offset=0.0, seed=0)
    reply = bot.reply(["do you like music?"], config)
    assert reply.exemplar
    context, _ = bot.prepare_context(["do you like music?"])
    written = [alt for alt in reply.alternatives if alt.source is ReplySource.MODEL]
    assert written
    for alternative in written:
        target = [*bot.tokenizer.encode(alternative.text), EOS_ID]
        with torch.inference_mode():
            total = bot.model.target_log_probs(
                torch.tensor([context]),
                torch.tensor([len(context)]),
                torch.tensor([[BOS_ID, *target[:-1]]]),
                torch.tensor([target]),
            )
        assert alternative.forward_score == pytest.approx(float(total) / len(target), abs=1e-3)
