"""A pair off the visible path reads its context as the window would show that branch (#27 item
6): where a regenerated reply has several alternatives and none is chosen, the newest one, not
the first. The oracle is the store's own branch switch (`choose_alternative`), and the texts."""

from __future__ import annotations

from chatapp.store import Store


def test_a_branch_off_the_path_reads_the_newest_of_its_regenerated_replies(store: Store):
    chat = store.create_conversation()
    first_turn = store.add_user_turn(chat.id, "hi")
    first = store.add_bot_reply(chat.id, "hello.")
    store.add_alternative(first.id, "hey, how are you?")  # the newer reply, shown
    store.add_user_turn(chat.id, "tell me a joke")
    joke = store.add_bot_reply(chat.id, "no.")
    store.correct(joke.id, "why did the chicken cross the road?")
    # Editing the opening turn leaves all of that on another branch, nothing of it chosen.
    store.edit_user_turn(first_turn.id, "good morning")
    assert store.history(chat.id) == ["good morning"]

    [pair] = store.training_pairs(("corrected",))
    assert pair.message_id == joke.id
    assert pair.context == ["hi", "hey, how are you?", "tell me a joke"]
    # The window agrees: going back to the first turn shows that branch with the newest reply.
    store.choose_alternative(first_turn.id)
    assert store.history(chat.id)[:3] == pair.context
