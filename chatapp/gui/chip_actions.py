"""The actions of the chips under a message: what the delegate shows and the window does."""

from __future__ import annotations

import enum


class ChipAction(enum.StrEnum):
    COPY = "copy"
    EDIT = "edit"  # a user turn: edit and resend
    REGENERATE = "regenerate"
    RETRY = "retry"  # a turn stopped before any reply was kept: ask for one again
    PREVIOUS = "previous"  # ‹ the alternative (or branch) before
    COUNTER = "counter"  # "2/3" between ‹ and ›: a label, never an action
    NEXT = "next"
    LIKE = "like"
    DISLIKE = "dislike"
    CORRECT = "correct"  # write a better reply
    DETAILS = "details"
