"""The decoding panel driven by keyboard and mouse: typed values, caps, strategies, presets, and
where its settings are saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QAbstractSpinBox

from chatapp.gui import saved_settings, text_dialog
from chatapp.gui.decoding_panel import (
    CUSTOM,
    PRESET_KEY,
    SETTINGS_KEY,
    STRATEGY_KNOBS,
    DecodingPanel,
    knob_applies,
)
from chatapp.gui.main_window import MainWindow
from chatapp.store import ModelVersionRecord, Store
from engine.decoding.config import (
    CHOICE_KNOBS,
    DEFAULT_PRESET,
    KNOBS,
    PRESETS,
    STRATEGIES,
    DecodeConfig,
    decode_preset,
)
from tests.chatapp.gui.bare_window import open_bare_window
from tests.chatapp.gui.helpers import REPLY_TIMEOUT_MS

BEAM = DecodeConfig(strategy="beam", beam_size=5, n_best=5)
# What the previous version wrote for its "balanced" (values only, no preset name), and what
# the first version wrote for its "precise" (before rerank's knobs existed).
LAST_VERSIONS_BALANCED = (
    '{"strategy": "rerank", "max_length": 32, "min_length": 2, "beam_size": 5, '
    '"length_penalty": 1.0, "no_repeat_ngram_size": 3, "n_best": 3, "temperature": 0.9, '
    '"top_k": 40, "top_p": 0.9, "repetition_penalty": 1.2, "seed": null, '
    '"block_context_ngrams": 0, "candidates": 16, "mmi_weight": 3.0, "anti_lm_weight": 1.0}'
)
FIRST_VERSIONS_PRECISE = (
    '{"strategy": "beam", "max_length": 32, "min_length": 1, "beam_size": 5, '
    '"length_penalty": 1.0, "no_repeat_ngram_size": 3, "n_best": 5, "temperature": 0.7, '
    '"top_k": 40, "top_p": 0.9, "repetition_penalty": 1.0, "seed": null, '
    '"block_context_ngrams": 0}'
)


def reopened(qtbot, path: Path) -> DecodingPanel:
    panel = DecodingPanel(settings=QSettings(str(path), QSettings.Format.IniFormat))
    qtbot.addWidget(panel)
    return panel


@pytest.fixture
def panel(qtbot, tmp_path: Path) -> DecodingPanel:
    settings = QSettings(str(tmp_path / "panel.ini"), QSettings.Format.IniFormat)
    panel = DecodingPanel(settings=settings)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_config(BEAM)
    return panel


def type_into(qtbot, spin: QAbstractSpinBox, text: str) -> None:
    """Select what the box holds, type `text` key by key and press Enter, as a person does."""
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, text)
    qtbot.keyClick(spin, Qt.Key.Key_Return)


def test_typing_16_into_beam_size_keeps_n_best(qtbot, panel):
    type_into(qtbot, panel.knob_widgets["beam_size"], "16")
    assert panel.config.beam_size == 16
    assert panel.config.n_best == 5  # the "1" typed first did not cap it to 1
    assert panel.knob_widgets["n_best"].value() == 5
    assert panel.note.text() == ""


def test_capping_n_best_to_the_beam_size_says_so(qtbot, panel):
    type_into(qtbot, panel.knob_widgets["beam_size"], "3")
    assert (panel.config.beam_size, panel.config.n_best) == (3, 3)
    assert panel.knob_widgets["n_best"].value() == 3
    assert "N best lowered to 3" in panel.note.text() and panel.note.isVisible()
    type_into(qtbot, panel.knob_widgets["n_best"], "8")
    assert panel.config.n_best == 3 and "N best lowered to 3" in panel.note.text()
    type_into(qtbot, panel.knob_widgets["beam_size"], "8")
    assert panel.note.text() == ""  # nothing lowered this time


def test_knobs_that_do_not_apply_to_the_strategy_are_disabled(qtbot, panel):
    widgets, combo = panel.knob_widgets, panel.strategy_combo
    assert widgets["beam_size"].isEnabled() and not widgets["temperature"].isEnabled()
    assert not panel.seed_edit.isEnabled()
    combo.setCurrentText("sample")
    assert not widgets["beam_size"].isEnabled() and not widgets["n_best"].isEnabled()
    assert widgets["temperature"].isEnabled() and panel.seed_edit.isEnabled()
    assert not widgets["candidates"].isEnabled() and not panel.knob_labels["candidates"].isEnabled()
    combo.setCurrentText("greedy")
    assert not widgets["temperature"].isEnabled() and not widgets["top_p"].isEnabled()
    for strategy in ("greedy", "beam", "sample", "rerank"):
        combo.setCurrentText(strategy)
        for name in ("max_length", "min_length", "no_repeat_ngram_size", "repetition_penalty"):
            assert widgets[name].isEnabled() and knob_applies(name, strategy)
    assert set(KNOBS) <= set(panel.knob_labels)


def test_refine_is_offered_only_while_a_model_that_reads_exemplars_is_loaded(
    qtbot, window: MainWindow, store: Store, tiny_refine_model_dir: Path
):
    panel = window.decoding_panel
    combo, label = panel.choice_widgets["refine"], panel.knob_labels["refine"]

    def offered_for(strategy: str) -> bool:
        panel.strategy_combo.setCurrentText(strategy)
        assert label.isEnabled() == combo.isEnabled() and label.toolTip() == combo.toolTip()
        return combo.isEnabled()

    def switch_to(version: ModelVersionRecord) -> None:
        with qtbot.waitSignal(window.context.switcher.model_ready, timeout=REPLY_TIMEOUT_MS):
            assert window.context.switcher.activate(version)

    tiny = store.active_model_version()
    assert tiny is not None  # the tiny model reads no exemplars
    assert not any(offered_for(strategy) for strategy in STRATEGIES)
    assert "the loaded model does not read exemplars" in combo.toolTip()
    assert panel.knob_widgets["similar"].isEnabled()  # the strategy's knobs still follow it

    switch_to(store.add_model_version("refine", str(tiny_refine_model_dir)))
    assert all(offered_for(strategy) for strategy in STRATEGIES)
    assert "does not read exemplars" not in combo.toolTip()
    assert combo.toolTip().startswith("Retrieve-and-refine models")
    combo.setCurrentText("none")
    assert panel.config.refine == "none"  # the user can choose, and the reply reads it

    switch_to(tiny)
    assert not offered_for("pool") and "does not read exemplars" in combo.toolTip()
    assert panel.config.refine == "none"  # greyed out, the value is kept


def test_each_knob_a_strategy_reads_is_a_knob_of_the_tables():
    """A name here that is no knob would leave the knob it was meant to be enabled for every
    strategy, the pool's included, and the pool's own knob greyed out nowhere."""
    every = set(KNOBS) | set(CHOICE_KNOBS) | {"seed"}
    for strategy, names in STRATEGY_KNOBS.items():
        assert names <= every, (strategy, sorted(names - every))


def test_the_pool_knobs_are_enabled_for_the_pool_alone(qtbot, panel):
    widgets, labels = panel.knob_widgets, panel.knob_labels
    assert labels["similar"].text() == "Similar-turn replies"
    for strategy in ("greedy", "beam", "sample", "rerank"):
        panel.strategy_combo.setCurrentText(strategy)
        assert not widgets["similar"].isEnabled() and not labels["similar"].isEnabled(), strategy
        assert not widgets["retrieved"].isEnabled(), strategy
    panel.strategy_combo.setCurrentText("pool")
    assert widgets["similar"].isEnabled() and widgets["retrieved"].isEnabled()
    type_into(qtbot, widgets["similar"], "8")
    assert panel.config.similar == 8 and panel.config.strategy == "pool"


def test_rerank_takes_its_candidates_from_beam_search_when_asked(qtbot, panel, tmp_path):
    widgets, search = panel.knob_widgets, panel.choice_widgets["candidate_search"]
    assert not search.isEnabled()  # beam search has no candidates to rerank
    panel.strategy_combo.setCurrentText("rerank")
    assert search.isEnabled() and search.currentText() == "sample"
    assert widgets["fluency_floor"].isEnabled() and widgets["temperature"].isEnabled()
    assert not widgets["length_penalty"].isEnabled()
    search.setFocus()
    qtbot.keyClick(search, Qt.Key.Key_Down)  # the next choice: beam
    assert (panel.config.strategy, panel.config.candidate_search) == ("rerank", "beam")
    # Nothing is drawn at random now, and the beam reads the length penalty.
    assert not widgets["temperature"].isEnabled() and not panel.seed_edit.isEnabled()
    assert widgets["length_penalty"].isEnabled() and widgets["candidates"].isEnabled()
    assert reopened(qtbot, tmp_path / "panel.ini").config.candidate_search == "beam"


def test_the_rerank_knobs_are_labelled_as_people_write_them(panel):
    labels = {name: label.text() for name, label in panel.knob_labels.items()}
    assert labels["mmi_weight"] == "MMI weight (λ)" and labels["anti_lm_weight"] == "Anti-LM weight"
    assert labels["top_p"] == "Top-p" and labels["temperature"] == "Temperature"
    # λ reaches the 10 of "balanced" and beyond, up to the knob's own maximum.
    assert (
        panel.knob_widgets["mmi_weight"].maximum()
        == KNOBS["mmi_weight"].high
        > PRESETS["balanced"].mmi_weight
    )


@pytest.mark.parametrize(
    ("saved", "preset"), [(LAST_VERSIONS_BALANCED, "balanced"), (FIRST_VERSIONS_PRECISE, "precise")]
)
def test_an_earlier_versions_preset_opens_as_todays(qtbot, tmp_path, saved, preset):
    path = tmp_path / "old.ini"
    old = QSettings(str(path), QSettings.Format.IniFormat)
    old.setValue(SETTINGS_KEY, saved)
    old.sync()
    panel = reopened(qtbot, path)
    assert panel.config == PRESETS[preset] and panel.preset_combo.currentText() == preset
    if preset == "balanced":
        assert panel.knob_widgets["mmi_weight"].value() == PRESETS["balanced"].mmi_weight != 3.0


def without_similar(config: DecodeConfig) -> dict:
    """`config` as a version before the knob `similar` stored it (JSON without the field)."""
    stored = config.to_dict()
    del stored["similar"]
    return stored


def test_a_preset_and_values_saved_before_a_knob_existed_open_with_its_default(
    qtbot, store, tmp_path
):
    mine = PRESETS["balanced"].replace(retrieved=16, mmi_weight=4.0)
    store.save_preset("mine", without_similar(mine))
    panel = open_bare_window(qtbot, store).decoding_panel
    panel.preset_combo.setCurrentText("mine")  # listed: the store's preset was read
    assert panel.preset_combo.currentText() == "mine" and panel.config == mine
    assert panel.knob_widgets["similar"].value() == DecodeConfig().similar
    path = tmp_path / "old.ini"
    old = QSettings(str(path), QSettings.Format.IniFormat)
    old.setValue(SETTINGS_KEY, json.dumps(without_similar(mine)))  # custom values, no name
    old.sync()
    again = reopened(qtbot, path)
    assert again.config == mine and again.preset_combo.currentText() == CUSTOM


def test_a_chosen_preset_is_saved_by_name_and_custom_values_as_they_are(qtbot, panel, tmp_path):
    path = tmp_path / "panel.ini"
    panel.preset_combo.setCurrentText("creative")
    panel._settings.sync()
    stale = QSettings(str(path), QSettings.Format.IniFormat)
    assert stale.value(PRESET_KEY) == "creative"
    stale.setValue(SETTINGS_KEY, FIRST_VERSIONS_PRECISE)  # values a later preset has dropped
    stale.sync()
    assert reopened(qtbot, path).config == PRESETS["creative"]  # the preset as it is today
    custom = PRESETS["balanced"].mmi_weight - 0.5
    panel.set_knob("mmi_weight", custom)
    panel._settings.sync()
    again = reopened(qtbot, path)
    assert again.config.mmi_weight == custom and again.preset_combo.currentText() == CUSTOM


def test_a_saved_preset_can_be_renamed_and_deleted(qtbot, panel, monkeypatch):
    names = iter(["mine", "ours"])
    monkeypatch.setattr(text_dialog, "ask_text", lambda *a, **k: next(names))
    assert not panel.rename_button.isEnabled() and not panel.delete_button.isEnabled()
    with qtbot.waitSignal(panel.preset_saved) as saved:
        qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert saved.args == ["mine", BEAM] and panel.preset_combo.currentText() == "mine"
    assert panel.rename_button.isEnabled() and panel.delete_button.isEnabled()
    with qtbot.waitSignal(panel.preset_renamed) as renamed:
        qtbot.mouseClick(panel.rename_button, Qt.MouseButton.LeftButton)
    assert renamed.args == ["mine", "ours", BEAM]
    items = [panel.preset_combo.itemText(i) for i in range(panel.preset_combo.count())]
    assert "ours" in items and "mine" not in items and panel.preset_combo.currentText() == "ours"
    with qtbot.waitSignal(panel.preset_deleted) as deleted:
        qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert deleted.args == ["ours"]
    items = [panel.preset_combo.itemText(i) for i in range(panel.preset_combo.count())]
    assert "ours" not in items and panel.preset_combo.currentText() == "(custom)"
    assert panel.config == BEAM  # deleting a preset keeps the settings in use


def test_a_built_in_preset_name_is_refused(qtbot, panel, monkeypatch):
    monkeypatch.setattr(text_dialog, "ask_text", lambda *a, **k: "balanced")
    with qtbot.assertNotEmitted(panel.preset_saved):
        qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert "built-in" in panel.message.text()


def test_renamed_and_deleted_presets_are_kept_in_the_database(qtbot, store, monkeypatch):
    window = open_bare_window(qtbot, store)
    panel = window.decoding_panel
    panel.set_config(BEAM)
    names = iter(["mine", "ours"])
    monkeypatch.setattr(text_dialog, "ask_text", lambda *a, **k: next(names))
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.rename_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: [p.name for p in store.list_presets()] == ["ours"])
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: store.list_presets() == [])


def test_decoding_settings_live_with_the_data_dir(qtbot, tmp_path):
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    first = Store.open(tmp_path / "first" / "conversations.db")
    second = Store.open(tmp_path / "second" / "conversations.db")
    try:
        window = open_bare_window(qtbot, first)
        window.decoding_panel.set_config(
            DecodeConfig(strategy="beam", beam_size=16, n_best=3, min_length=20)
        )
        window.close()
        assert not QSettings().contains(SETTINGS_KEY)  # not in the user's global config
        beside = saved_settings.settings_path(first.path)
        assert beside.parent == tmp_path / "first" and beside.is_file()
        fresh = open_bare_window(qtbot, second)  # another data dir starts from the defaults
        assert fresh.decoding_panel.config.beam_size == DecodeConfig().beam_size
        default_min = decode_preset(DEFAULT_PRESET).min_length
        assert fresh.decoding_panel.knob_widgets["min_length"].value() == default_min
        fresh.close()
        again = open_bare_window(qtbot, first)  # the first one's settings come back
        assert again.decoding_panel.config.beam_size == 16
        assert again.decoding_panel.knob_widgets["min_length"].value() == 20
        again.close()
    finally:
        first.close()
        second.close()


def test_settings_an_earlier_version_kept_globally_move_to_the_first_data_dir(qtbot, tmp_path):
    former = QSettings()
    former.setValue(SETTINGS_KEY, LAST_VERSIONS_BALANCED)
    former.setValue("ui/font_size", 16)
    former.sync()
    stores = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        stores.append(Store.open(tmp_path / name / "conversations.db"))
    try:
        window = open_bare_window(qtbot, stores[0])
        assert window.decoding_panel.config == PRESETS["balanced"]  # today's, not the old λ
        assert window.font().pointSize() == 16
        window.close()
        assert not QSettings().contains(SETTINGS_KEY) and not QSettings().contains("ui/font_size")
        beside = QSettings(
            str(saved_settings.settings_path(stores[0].path)), QSettings.Format.IniFormat
        )
        assert int(beside.value("ui/font_size")) == 16
        other = open_bare_window(qtbot, stores[1])  # moved, not copied
        assert other.font().pointSize() != 16
        other.close()
    finally:
        for store in stores:
            store.close()
