"""Keyboard shortcuts as a US keyboard sends them: Ctrl with the =/+ key zooms in with or without Shift, the
mask's Grow and Shrink have keys of their own, and no key press anywhere in the app matches two shortcuts."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from PySide6.QtCore import QKeyCombination, Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from test_app_editor import editor, engine, open_photo, stroke

from app.main_window import MainWindow

__all__ = ["editor", "engine"]

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
ALT = Qt.KeyboardModifier.AltModifier
NONE = Qt.KeyboardModifier.NoModifier
K = Qt.Key

# A US keyboard: each key's symbol without and with Shift (letters only change case, which Qt's key code ignores).
US_SYMBOL_KEYS = {
    K.Key_Equal: K.Key_Plus, K.Key_Minus: K.Key_Underscore, K.Key_BracketLeft: K.Key_BraceLeft,
    K.Key_BracketRight: K.Key_BraceRight, K.Key_Backslash: K.Key_Bar, K.Key_Semicolon: K.Key_Colon,
    K.Key_Apostrophe: K.Key_QuoteDbl, K.Key_Comma: K.Key_Less, K.Key_Period: K.Key_Greater,
    K.Key_Slash: K.Key_Question, K.Key_QuoteLeft: K.Key_AsciiTilde, K.Key_1: K.Key_Exclam, K.Key_2: K.Key_At,
    K.Key_3: K.Key_NumberSign, K.Key_4: K.Key_Dollar, K.Key_5: K.Key_Percent, K.Key_6: K.Key_AsciiCircum,
    K.Key_7: K.Key_Ampersand, K.Key_8: K.Key_Asterisk, K.Key_9: K.Key_ParenLeft, K.Key_0: K.Key_ParenRight,
}  # fmt: skip
OTHER_KEYS = [
    *(K(K.Key_A.value + i) for i in range(26)),
    *(K(K.Key_F1.value + i) for i in range(12)),
    K.Key_Return, K.Key_Enter, K.Key_Escape, K.Key_Backspace, K.Key_Delete, K.Key_Tab, K.Key_Space,
    K.Key_Left, K.Key_Right, K.Key_Up, K.Key_Down, K.Key_Home, K.Key_End, K.Key_PageUp, K.Key_PageDown,
]  # fmt: skip
MODIFIER_SETS = [NONE, CTRL, SHIFT, ALT, CTRL | SHIFT, CTRL | ALT, SHIFT | ALT, CTRL | SHIFT | ALT]


def combination(key: Qt.Key, modifiers: Qt.KeyboardModifier) -> QKeySequence:
    return QKeySequence(QKeyCombination(modifiers, key))


def arriving_forms(key: Qt.Key, modifiers: Qt.KeyboardModifier) -> list[list[QKeySequence]]:
    """The ways one press of a physical key can reach Qt's shortcut map, each a list of candidate sequences.

    - X11/Wayland (xkb): the key unshifted with every modifier, plus the shifted symbol without Shift
      (Ctrl+Shift+= also arrives as Ctrl++);
    - other platforms and QTest: the typed symbol with every modifier (Ctrl+Shift+= arrives as Ctrl+Shift++).
    """
    shifted = US_SYMBOL_KEYS.get(key)
    xkb = [combination(key, modifiers)]
    typed = [combination(key, modifiers)]
    if shifted is not None and modifiers & SHIFT:
        xkb.append(combination(shifted, modifiers & ~SHIFT))
        typed = [combination(shifted, modifiers)]
    return [xkb, typed]


def shortcut_entries(window: QWidget) -> list[tuple[str, QKeySequence]]:
    """Every (owner, key sequence) a window registers: each shortcut of each action, and each QShortcut."""
    entries = []
    for action in window.findChildren(QAction):
        for sequence in action.shortcuts():
            entries.append((action.text().replace("&", "") or action.objectName(), sequence))
    for shortcut in window.findChildren(QShortcut):
        entries.append((f"shortcut {shortcut.key().toString()}", shortcut.key()))
    return entries


def ambiguous_presses(entries: Iterable[tuple[str, QKeySequence]]) -> list[str]:
    """Key presses of a US keyboard that would match more than one registered shortcut, in either form."""
    entries = list(entries)
    problems = []
    for key, modifiers in itertools.product([*US_SYMBOL_KEYS, *OTHER_KEYS], MODIFIER_SETS):
        for form in arriving_forms(key, modifiers):
            matched = [name for name, sequence in entries if sequence in form]
            if len(matched) > 1:
                problems.append(f"{combination(key, modifiers).toString()} matches {matched}")
    return problems


def test_ctrl_equal_and_ctrl_shift_equal_both_zoom_in_and_minus_zooms_out(
    editor: MainWindow, qtbot: QtBot, tmp_path, qtlog: pytest.LogCaptureFixture
) -> None:
    open_photo(editor, tmp_path)
    editor.canvas.set_zoom(0.5)
    # Ctrl + the =/+ key without Shift: the keyboard sends Key_Equal with Ctrl.
    qtbot.keyClick(editor.canvas, K.Key_Equal, CTRL)
    assert editor.canvas.zoom == pytest.approx(0.5 * 1.25)
    # With Shift it sends Key_Plus with Ctrl|Shift (the symbol the key types, Shift still held).
    qtbot.keyClick(editor.canvas, K.Key_Plus, CTRL | SHIFT)
    assert editor.canvas.zoom == pytest.approx(0.5 * 1.25**2)
    # A keypad +: Key_Plus with Ctrl and the keypad flag.
    qtbot.keyClick(editor.canvas, K.Key_Plus, CTRL | Qt.KeyboardModifier.KeypadModifier)
    assert editor.canvas.zoom == pytest.approx(0.5 * 1.25**3)
    qtbot.keyClick(editor.canvas, K.Key_Minus, CTRL)
    assert editor.canvas.zoom == pytest.approx(0.5 * 1.25**2)
    assert not [r for r in qtlog.records if "mbiguous" in r.message]


def test_grow_and_shrink_the_mask_have_keys_of_their_own(editor: MainWindow, qtbot: QtBot, tmp_path) -> None:
    open_photo(editor, tmp_path)
    stroke(qtbot, editor, [(200, 150), (201, 150)])
    area = int((editor.canvas.mask_array > 0).sum())
    zoom = editor.canvas.zoom
    qtbot.keyClick(editor.canvas, K.Key_BracketRight, CTRL)
    grown = int((editor.canvas.mask_array > 0).sum())
    assert grown > area and editor.undo_stack.undoText() == "Grow mask"
    qtbot.keyClick(editor.canvas, K.Key_BracketLeft, CTRL)
    assert int((editor.canvas.mask_array > 0).sum()) < grown
    assert editor.canvas.zoom == zoom  # the zoom keys are not involved
    assert editor.commands.grow_mask.shortcut().toString() == "Ctrl+]"


def test_softer_and_harder_brush_with_shift_brackets_as_typed(editor: MainWindow, qtbot: QtBot, tmp_path) -> None:
    open_photo(editor, tmp_path)
    editor.canvas.set_hardness(0.5)
    qtbot.keyClick(editor.canvas, K.Key_BraceLeft, SHIFT)  # Shift+[ types {
    assert editor.canvas.hardness == pytest.approx(0.25)
    qtbot.keyClick(editor.canvas, K.Key_BraceRight, SHIFT)
    assert editor.canvas.hardness == pytest.approx(0.5)


def test_no_key_press_matches_two_shortcuts_in_the_editor_or_the_batch_window(editor: MainWindow) -> None:
    entries = shortcut_entries(editor)
    assert len(entries) > 40  # every action of the window was collected
    sequences = [sequence.toString() for _, sequence in entries]
    duplicates = sorted({text for text in sequences if sequences.count(text) > 1})
    assert duplicates == []
    assert ambiguous_presses(entries) == []
    batch = editor.show_batch()
    assert ambiguous_presses(shortcut_entries(batch)) == []


def test_the_checker_finds_the_old_collision_of_zoom_in_and_grow_mask() -> None:
    """The ambiguity check sees what the photographer hit: Zoom In on Ctrl++ and Grow Mask on Ctrl+Shift+=."""
    old = [("Zoom In", QKeySequence("Ctrl++")), ("Grow Mask", QKeySequence("Ctrl+Shift+="))]
    assert ambiguous_presses(old) == ["Ctrl+Shift+= matches ['Zoom In', 'Grow Mask']"]
