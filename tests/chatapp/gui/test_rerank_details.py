"""A reranked reply in the window: its candidates, with both scores, in Details…"""

from __future__ import annotations

import os
from pathlib import Path

from engine.decoding.config import DecodeConfig
from tests.chatapp.gui.helpers import send_and_wait, settle


def test_reranked_reply_shows_every_candidate_with_both_scores(qtbot, window, store, tmp_path):
    window.decoding_panel.set_config(
        DecodeConfig(strategy="rerank", candidates=8, temperature=1.2, mmi_weight=1.0, seed=3)
    )
    reply = send_and_wait(qtbot, window, "What is your name?")
    assert reply.text.strip()
    stored = store.history(window.controller.conversation_id)
    assert stored[-1] == reply.text
    assert reply.nbest and reply.nbest[0]["text"] == reply.text
    assert all(entry["scorer"] == "anti-LM" for entry in reply.nbest)  # the tiny model has none
    ranks = [(not entry.get("cut", False), entry["score"]) for entry in reply.nbest]
    assert ranks == sorted(ranks, reverse=True)  # finished replies first, each part by score
    dialog = window.show_details(reply)
    qtbot.addWidget(dialog)
    lines = [dialog.nbest_list.item(row).text() for row in range(dialog.nbest_list.count())]
    assert len(lines) == len(reply.nbest)
    assert all("fits your turn in particular" in line and "anti-LM" in line for line in lines)
    dialog.tabs.setCurrentIndex(1)  # the n-best tab, for the screenshot
    dialog.resize(700, 500)
    shot = Path(os.environ.get("SCREENSHOT_DIR", tmp_path)) / "rerank-details.png"
    assert dialog.grab().save(str(shot))
    # Picking a lower candidate makes it the reply the conversation continues from.
    if len(reply.nbest) > 1:
        dialog.nbest_list.setCurrentRow(len(reply.nbest) - 1)
        dialog._use_selected()
        settle(qtbot, window)  # the alternative is stored off the GUI thread
        assert store.history(window.controller.conversation_id)[-1] == reply.nbest[-1]["text"]
