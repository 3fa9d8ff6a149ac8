"""Where a candidate reply came from: its source travels with the reply to the store,
the Details dialog, archives and the API, so a user can always tell who wrote what."""

from __future__ import annotations

from enum import Enum


class ReplySource(str, Enum):
    MODEL = "model"  # written by the model (sampled or beam-searched)
    CORPUS = "corpus"  # a reply people wrote in the training corpus
    CORRECTION = "correction"  # the user's own correction of an earlier reply
    LIKED = "liked"  # a reply the user rated up

    @property
    def label(self) -> str:
        return _LABELS[self]

    @classmethod
    def parse(cls, value: object) -> ReplySource:
        """The source named by a stored value; anything unknown (an older row) is the model's."""
        try:
            return cls(value)
        except ValueError:
            return cls.MODEL


_LABELS = {
    ReplySource.MODEL: "written by the model",
    ReplySource.CORPUS: "from a conversation in the training corpus",
    ReplySource.CORRECTION: "from your correction",
    ReplySource.LIKED: "from a reply you liked",
}
