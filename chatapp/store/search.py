"""Full-text search over message texts with SQLite FTS5, ranked by bm25.

The index (`messages_fts`, made by migration 0002) is an external-content table over
`messages.text`, kept in sync by triggers. The user's query is never handed to FTS5's query
language as it is: each word becomes a quoted phrase, so `"foo`, `AND(` or `NEAR` are plain
words and no input can raise a syntax error.

Ranking costs a few microseconds per matching message, so a word found in nearly every message
("the") would take a quarter of a second over 100,000 messages. Only the newest `RANK_WINDOW`
matches are ranked: exact bm25 order whenever fewer messages match, and for very common words
the best of the recent ones, in bounded time.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from chatapp.store.message_text import storable_text
from chatapp.store.models import UTCDateTime
from chatapp.store.records import SearchHit

SNIPPET_TOKENS = 12  # words of context around the match (FTS5 allows at most 64)
RANK_WINDOW = 5000  # matches ranked at most, newest first
MIN_PREFIX = 3  # a shorter last word is matched whole: "a*" would merge thousands of word lists
MAX_QUERY_CHARS = 1000  # of a query, the rest is ignored
MAX_TERMS = 16  # distinct words searched for, the first ones typed

# FTS5 walks a match list in rowid order, so finding the RANK_WINDOW-th newest match is cheap.
_WINDOW_START = text(
    "SELECT rowid FROM messages_fts WHERE messages_fts MATCH :query "
    "ORDER BY rowid DESC LIMIT 1 OFFSET :window"
)

_SEARCH = text(
    """
    SELECT m.conversation_id, c.title, m.id, m.position, m.role,
           snippet(messages_fts, 0, :open, :close, :ellipsis, :tokens) AS snippet,
           bm25(messages_fts) AS score, m.created_at
    FROM messages_fts
    JOIN messages AS m ON m.id = messages_fts.rowid
    JOIN conversations AS c ON c.id = m.conversation_id
    WHERE messages_fts MATCH :query AND messages_fts.rowid >= :since
      AND m.chosen AND (:archived OR NOT c.archived)
    ORDER BY score, m.id
    LIMIT :limit
    """
).columns(created_at=UTCDateTime())  # read back as an aware UTC datetime, as the ORM does


def fts_query(user_query: str) -> str | None:
    """The FTS5 expression for what the user typed: all words, the last one as a prefix.

    None when there is nothing to search for. The last word (of `MIN_PREFIX` characters or
    more) matches as a prefix because it is usually the one still being typed.
    """
    # NUL ends FTS5's parse early ("unterminated string"); it is never part of a word anyway.
    # A lone surrogate cannot be sent to SQLite: it becomes U+FFFD, as in a stored message.
    text = storable_text(user_query[: MAX_QUERY_CHARS + 1])[0].replace("\x00", " ")
    typed = text.split()
    if len(text) > MAX_QUERY_CHARS:
        typed = text[:MAX_QUERY_CHARS].split()[:-1]  # the last word may be cut in two
    # Each term costs a walk of its match list: a few distinct ones find the message anyway.
    words: list[str] = []
    for word in typed:
        if word.casefold() not in {w.casefold() for w in words} and len(words) < MAX_TERMS:
            words.append(word)
    if not words:
        return None
    phrases = ['"' + word.replace('"', '""') + '"' for word in words]
    if len(words[-1]) >= MIN_PREFIX and typed[-1] == words[-1]:
        phrases[-1] += "*"
    return " ".join(phrases)


def search_messages(
    session: Session,
    user_query: str,
    *,
    limit: int,
    open_marker: str,
    close_marker: str,
    ellipsis: str,
    include_archived: bool,
) -> list[SearchHit]:
    query = fts_query(user_query)
    if query is None or limit <= 0:
        return []
    since = session.scalar(_WINDOW_START, {"query": query, "window": RANK_WINDOW - 1}) or 0
    rows = session.execute(
        _SEARCH,
        {
            "query": query,
            "since": since,
            "open": open_marker,
            "close": close_marker,
            "ellipsis": ellipsis,
            "tokens": SNIPPET_TOKENS,
            "archived": include_archived,
            "limit": limit,
        },
    )
    return [
        SearchHit(
            conversation_id=conversation_id,
            conversation_title=title,
            message_id=message_id,
            position=position,
            role=role,
            snippet=snippet,
            score=score,
            created_at=created_at,
        )
        for conversation_id, title, message_id, position, role, snippet, score, created_at in rows
    ]
