"""Word-level generation metrics: the "I don't know"-type reply rate."""

from __future__ import annotations

import pytest

from engine.metrics import uncertain_reply_rate


@pytest.mark.parametrize(
    "reply",
    ["I don't know", "i dont know what to say", "I’m not sure.", "Not sure lol", "no idea!",
     "I do not know", "idk", "I am not sure about that", "i dunno"],
)  # fmt: skip
def test_uncertain_replies_are_counted(reply: str) -> None:
    assert uncertain_reply_rate([reply]) == 1.0


@pytest.mark.parametrize(
    "reply", ["I know that song!", "I'm sure it will be fine", "I love it", "Idaho is nice"]
)
def test_confident_replies_are_not(reply: str) -> None:
    assert uncertain_reply_rate([reply]) == 0.0


def test_rate_is_the_share_of_replies() -> None:
    assert uncertain_reply_rate(["no idea", "I like dogs", "yes", "not sure"]) == 0.5
    assert uncertain_reply_rate([]) == 0.0
