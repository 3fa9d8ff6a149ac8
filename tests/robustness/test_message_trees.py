"""The message tree from elsewhere (issue 26, item 1): an archive whose branches loop, run
backwards or take a shape the app never writes is refused whole; a loop already in a database
(imported before the check) cannot hang a walk over the tree."""

from __future__ import annotations

import copy
import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatapp.store import ArchiveError, Store
from tests.database_checks import change_behind_the_app, integrity
from tests.robustness.helpers import all_texts, spawn
from tests.robustness.test_bad_files import one_line, run_main

Archive = dict
Messages = list[dict]


def grow_tree(store: Store, steps: list[tuple[str, int]]) -> int:
    """A conversation grown as the window grows one: each step sends a turn and its reply,
    regenerates a reply, edits a turn, or shows another alternative (the int picks which)."""
    conversation = store.create_conversation()
    store.add_user_turn(conversation.id, "hello there")
    store.add_bot_reply(conversation.id, "hi")
    for number, (step, pick) in enumerate(steps):
        shown = store.page_messages(conversation.id, 0, 10_000)
        target = shown[pick % len(shown)]
        if step == "send":
            store.add_user_turn(conversation.id, f"turn {number}")
            store.rate(store.add_bot_reply(conversation.id, f"reply {number}").id, 1)
        elif step == "regenerate" and target.role == "bot":
            store.add_alternative(target.id, f"again {number}")
        elif step == "edit" and target.role == "user":
            store.edit_user_turn(target.id, f"edited {number}")
            store.add_bot_reply(conversation.id, f"after edit {number}")
        elif step == "choose":
            others = store.alternatives(target.id)
            store.choose_alternative(others[pick % len(others)].id)
    return conversation.id


def branchy_archive(store: Store) -> Archive:
    """Three turns, the second reply regenerated (and liked), the last turn edited."""
    conversation_id = grow_tree(store, [("send", 0), ("regenerate", 3), ("send", 0), ("edit", 4)])
    return store.export_archive(conversation_id)


def messages_of(archive: Archive) -> Messages:
    return archive["conversations"][0]["messages"]


def at(messages: Messages, position: int, index: int = 0) -> dict:
    return [m for m in messages if m["position"] == position][index]


def follows_itself(ms: Messages) -> None:
    reply = at(ms, 3, 0)  # a liked reply off the shown path
    reply.update(follows_uid=reply["uid"], rating=1)


def follow_each_other(ms: Messages) -> None:
    at(ms, 1)["follows_uid"] = at(ms, 2)["uid"]
    at(ms, 2)["follows_uid"] = at(ms, 1)["uid"]


def follows_a_later_turn(ms: Messages) -> None:
    at(ms, 2)["follows_uid"] = at(ms, 5)["uid"]


def skips_a_turn(ms: Messages) -> None:
    at(ms, 4)["follows_uid"] = at(ms, 1)["uid"]


def first_follows(ms: Messages) -> None:
    at(ms, 0)["follows_uid"] = at(ms, 1)["uid"]


def follows_nothing(ms: Messages) -> None:
    at(ms, 3)["follows_uid"] = None


def parent_elsewhere(ms: Messages) -> None:
    at(ms, 3, 1)["parent_uid"] = at(ms, 1)["uid"]


def parents_in_a_loop(ms: Messages) -> None:
    first, second = at(ms, 3, 0), at(ms, 3, 1)
    first["parent_uid"], second["parent_uid"] = second["uid"], first["uid"]


def mixed_roles(ms: Messages) -> None:
    at(ms, 3, 1)["role"] = "user"


def path_jumps_branches(ms: Messages) -> None:
    old_turn, new_turn = at(ms, 4, 0), at(ms, 4, 1)  # the edit: the old turn is not shown
    old_turn["chosen"], new_turn["chosen"] = True, False
    for message in ms:
        if message["position"] == 5:
            message["chosen"] = message["follows_uid"] == new_turn["uid"]


WHERE = r"conversations\[0\]\.messages\[\d+\]\."
BAD_TREES: dict[str, tuple[Callable[[Messages], None], str]] = {
    "a reply that follows itself": (follows_itself, r"follows_uid: .*itself"),
    "two turns that follow each other": (follow_each_other, r"follows_uid: .*position 0"),
    "a turn that follows a later one": (follows_a_later_turn, r"follows_uid: .*position 1"),
    "a turn that skips one": (skips_a_turn, r"follows_uid: .*position 3"),
    "the first turn follows another": (first_follows, r"follows_uid: .*first message"),
    "a turn that follows nothing": (follows_nothing, r"follows_uid: .*position 2"),
    "a parent at another position": (parent_elsewhere, r"parent_uid: .*earlier alternative"),
    "parents in a loop": (parents_in_a_loop, r"parent_uid: .*earlier alternative"),
    "alternatives of two roles": (mixed_roles, r"role: .*alternatives"),
    "a shown path that jumps branches": (path_jumps_branches, r"chosen: .*shown path"),
}


@pytest.mark.parametrize("name", list(BAD_TREES))
def test_a_tree_the_app_could_not_have_written_is_refused_and_nothing_is_imported(
    tmp_path: Path, name: str
):
    damage, expected = BAD_TREES[name]
    with Store.open(tmp_path / "source.db") as source:
        archive = branchy_archive(source)
    damage(messages_of(archive))
    db = tmp_path / "chat.db"
    with Store.open(db) as store:
        store.add_user_turn(store.create_conversation().id, "mine")
        with pytest.raises(ArchiveError, match=rf"^malformed archive: {WHERE}{expected}"):
            store.import_archive(archive)
    before = all_texts(db)
    path = tmp_path / "archive.json"
    path.write_text(json.dumps(archive), encoding="utf-8")
    code, _, err = run_main("import", "--db", str(db), str(path))
    assert code == 2 and "malformed archive" in one_line(err), err
    assert all_texts(db) == before and integrity(db) == "ok"


LOOP_CHILD = textwrap.dedent(
    """
    import sys
    from chatapp.finetune.data import distinct_counts, load_pairs
    from chatapp.store import Store

    with Store.open(sys.argv[1]) as store:
        print({str(kind): count for kind, count in distinct_counts(store).items()})
        print(len(load_pairs(store, ("corrected", "liked", "user"))))
        store.choose_alternative(int(sys.argv[2]))
        print(len(store.training_pairs(("liked",))), flush=True)
    """
)


def test_a_loop_already_in_the_database_cannot_hang_the_pairs_or_branch_switching(
    tmp_path: Path,
):
    """A database that took in a looping archive before the import check: the walks over its
    tree end, and the looping reply gives no pair (its context cannot be told)."""
    db = tmp_path / "chat.db"
    with Store.open(db) as store:
        conversation_id = grow_tree(store, [("send", 0), ("regenerate", 3)])
        looping = store.alternatives(store.last_messages(conversation_id, 1)[0].id)[0]
        store.rate(looping.id, 1)
    change_behind_the_app(db, "UPDATE messages SET follows_id = id WHERE id = ?", (looping.id,))
    child = spawn(LOOP_CHILD, str(db), str(looping.id))
    try:
        out, err = child.communicate(timeout=60)
    except Exception:
        child.kill()
        child.communicate()
        raise AssertionError("a walk over a looping tree did not end") from None
    assert child.returncode == 0, err
    counts, pairs, liked = out.splitlines()
    # Off the shown path the looping reply has no context it can be read in; shown, it has.
    assert counts == "{'corrected': 0, 'liked': 0, 'user': 1}" and pairs == "1", out
    assert liked == "1", out


# Property-based: random trees, grown as the app grows them and then damaged at random ------

STEPS = st.lists(
    st.tuples(st.sampled_from(["send", "regenerate", "edit", "choose"]), st.integers(0, 50)),
    max_size=8,
)
FIELDS = ("follows_uid", "parent_uid", "position", "role", "chosen")


@st.composite
def damage(draw: st.DrawFn) -> list[tuple[int, str, int]]:
    """Up to three (message index, field, value index) changes; none leaves the tree as made."""
    return draw(
        st.lists(
            st.tuples(st.integers(0, 100), st.sampled_from(FIELDS), st.integers(0, 100)),
            max_size=3,
        )
    )


def apply_damage(messages: Messages, changes: list[tuple[int, str, int]]) -> None:
    uids = [m["uid"] for m in messages] + [None]
    for index, field, value in changes:
        message = messages[index % len(messages)]
        if field in ("follows_uid", "parent_uid"):
            message[field] = uids[value % len(uids)]
        elif field == "position":
            message["position"] = value % (len(messages) + 1)
        elif field == "role":
            message["role"] = ("user", "bot")[value % 2]
        else:
            message["chosen"] = not message["chosen"]


def loops(messages: Messages) -> bool:
    """True if following `follows_uid` or `parent_uid` from some message never ends."""
    by_uid = {m["uid"]: m for m in messages}
    for key in ("follows_uid", "parent_uid"):
        for start in messages:
            current, steps = start, 0
            while current.get(key) in by_uid and steps <= len(messages):
                current, steps = by_uid[current[key]], steps + 1
            if steps > len(messages):
                return True
    return False


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Store]]:
    folder = tmp_path_factory.mktemp("trees")
    with Store.open(folder / "source.db") as source, Store.open(folder / "target.db") as target:
        yield source, target


def _tree_shape(messages: Messages) -> list[tuple]:
    keys = ("uid", "position", "role", "text", "chosen", "parent_uid", "follows_uid", "rating")
    return [tuple(m[key] for key in keys) for m in messages]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS, changes=damage())
def test_a_random_tree_imports_whole_and_round_trips_or_is_refused_clearly(
    stores: tuple[Store, Store], steps: list[tuple[str, int]], changes: list[tuple[int, str, int]]
):
    source, target = stores
    archive = source.export_archive(grow_tree(source, steps))
    damaged = copy.deepcopy(archive)
    apply_damage(messages_of(damaged), changes)
    rows_before = len(target.export_archive()["conversations"])
    try:
        target.import_archive(damaged)
    except ArchiveError as error:
        message = str(error)
        assert message.startswith("malformed archive: conversations[0]") and "\n" not in message
        assert messages_of(damaged) != messages_of(archive), "a tree the app made was refused"
        assert len(target.export_archive()["conversations"]) == rows_before
        return
    assert not loops(messages_of(damaged))
    (back,) = [
        c for c in target.export_archive()["conversations"]
        if c["uid"] == damaged["conversations"][0]["uid"]
    ]  # fmt: skip
    assert _tree_shape(back["messages"]) == _tree_shape(
        sorted(messages_of(damaged), key=lambda m: m["position"])
    )
    target.training_pairs(("corrected", "liked", "user"))  # every walk ends
