"""Editor review and mask tools driven like a user would: results history, split view, live preview, lasso,
soft brush, Ctrl/Alt-drag sizing, pinch zoom, scroll bars, settings panel, dark palette."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fake_engine import PREVIEW, FakeEngine, colour_of_seed, seed_colour
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QSize, QSizeF, Qt
from PySide6.QtGui import QColor, QImage, QNativeGestureEvent, QPalette, QPointingDevice
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot
from test_app_editor import FILL, editor, engine, make_window, open_photo, stroke, wait_for_result

from app.editor.canvas import Canvas
from app.editor.canvas_view import CanvasView, bars_needed
from app.editor.document import EditorDocument
from app.main_window import MainWindow
from core.inpaint.result import InpaintResult

__all__ = ["editor", "engine"]  # fixtures shared with test_app_editor


def seeded_engine(previews: bool = False) -> FakeEngine:
    """Fills with a colour per seed (so variations can be told apart) and reports its region plan."""
    return FakeEngine(seed_colour, plan=True, previews=previews)


@pytest.fixture
def seeded(qtbot: QtBot) -> MainWindow:
    fake = seeded_engine()
    window = make_window(qtbot, fake)
    window.panel.steps.setValue(3)
    window.fake = fake  # type: ignore[attr-defined]
    return window


def shown(window: MainWindow, x: float, y: float) -> tuple[int, int, int]:
    """The colour the canvas shows at photo pixel (x, y)."""
    shot = window.canvas.grab().toImage()
    point = window.canvas.photo_to_widget(QPointF(x + 0.5, y + 0.5))
    ratio = shot.devicePixelRatio()
    colour = shot.pixelColor(int(point.x() * ratio), int(point.y() * ratio))
    return colour.red(), colour.green(), colour.blue()


# -- history -------------------------------------------------------------------------------------------------


def test_two_runs_make_two_thumbnails_and_the_first_can_be_accepted(
    seeded: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    open_photo(seeded, tmp_path)
    original = seeded.current_pixels.copy()  # type: ignore[union-attr]
    stroke(qtbot, seeded, [(150, 150), (250, 150)])
    seeded.run_inpaint()
    wait_for_result(qtbot, seeded)
    seeded.review.bar.again_button.click()  # a variation: same mask, new seed; the first result stays in the history
    qtbot.waitUntil(lambda: len(seeded.review.history) == 2 and seeded.job is None)
    strip = seeded.review.strip
    assert strip.isVisible() and strip.count() == 2
    assert strip.item(0).text() == "seed 0"  # one compact caption line; what ran is in the tooltip
    assert "seed 0" in strip.item(0).toolTip() and "3 steps" in strip.item(0).toolTip()
    assert "seed 4242" in strip.item(1).text()
    assert shown(seeded, 200, 150) == colour_of_seed(4242)

    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=strip.visualItemRect(strip.item(0)).center())
    assert seeded.pending_result is not None and seeded.pending_result.seed == 0
    assert shown(seeded, 200, 150) == colour_of_seed(0)
    assert np.array_equal(seeded.current_pixels, original)  # only shown, not applied

    seeded.review.bar.accept_button.click()
    pixels = seeded.current_pixels
    assert pixels is not None
    assert tuple(pixels[150, 200]) == colour_of_seed(0)
    assert shown(seeded, 200, 150) == colour_of_seed(0)
    assert np.array_equal(pixels[:120], original[:120])
    assert "✓" in strip.item(0).text()

    # Continue painting on the accepted result: a new stroke is its own undo step on top of it.
    stroke(qtbot, seeded, [(60, 60), (80, 60)])
    assert seeded.canvas.mask_array[60, 70] == 255 and seeded.canvas.mask_array[150, 200] == 0
    seeded.undo_stack.undo()  # the stroke
    seeded.undo_stack.undo()  # the accepted result
    assert np.array_equal(seeded.current_pixels, original)
    assert not seeded.has_unsaved_changes
    assert seeded.canvas.mask_array[150, 200] == 255  # the mask of the result is back
    seeded.commands.show_mask.trigger()  # overlay off, to see the photo's own pixels
    assert shown(seeded, 200, 150) == tuple(int(v) for v in original[150, 200])


def test_history_keeps_only_changed_boxes_and_evicts_with_a_note(
    seeded: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    open_photo(seeded, tmp_path)
    stroke(qtbot, seeded, [(150, 150), (160, 150)])
    seeded.review.history.max_entries = 2
    for _ in range(3):
        seeded.run_inpaint(new_seed=True)
        qtbot.waitUntil(lambda: seeded.job is None and seeded.pending_result is not None)
    entries = seeded.review.history.entries
    assert len(entries) == 2 and seeded.review.strip.count() == 2
    assert "dropped from the history" in seeded.message.text()
    for entry in entries:  # the box around a 20 px dab, not the 400 × 300 photo
        assert entry.before.shape == entry.after.shape
        assert entry.before.shape[0] <= 22 and entry.before.shape[1] <= 32


def test_discard_removes_the_entry_and_a_new_photo_clears_the_history(
    seeded: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    open_photo(seeded, tmp_path)
    stroke(qtbot, seeded, [(150, 150), (250, 150)])
    seeded.run_inpaint()
    wait_for_result(qtbot, seeded)
    seeded.commands.discard.trigger()
    # The strip keeps its place under the canvas (nothing jumps), empty now.
    assert len(seeded.review.history) == 0 and seeded.review.strip.count() == 0 and seeded.review.strip.isVisible()
    seeded.run_inpaint()
    wait_for_result(qtbot, seeded)
    open_photo(seeded, tmp_path, "other.png")
    assert len(seeded.review.history) == 0 and seeded.pending_result is None


# -- split view and plan -------------------------------------------------------------------------------------


def test_split_divider_shows_before_left_and_after_right(seeded: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(seeded, tmp_path)
    original = seeded.current_pixels.copy()  # type: ignore[union-attr]
    stroke(qtbot, seeded, [(120, 150), (280, 150)])
    seeded.run_inpaint()
    wait_for_result(qtbot, seeded)
    qtbot.mouseMove(seeded.canvas, QPoint(2, 2))
    strokes = seeded.undo_stack.count()
    qtbot.keyClick(seeded.canvas, Qt.Key.Key_Y)
    canvas = seeded.canvas
    assert seeded.review.split_action.isChecked() and canvas.split_x is not None
    # Drag the divider from where it is to photo x = 200.
    start = QPoint(round(canvas.split_x), 40)
    target = QPoint(round(canvas.photo_to_widget(QPointF(200, 0)).x()), 40)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas, QPoint((start.x() + target.x()) // 2, 60))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=target)
    assert abs(canvas.split_x - target.x()) < 1
    assert seeded.undo_stack.count() == strokes  # dragging the divider paints nothing

    def before(x: int) -> tuple[int, int, int]:
        return tuple(int(v) for v in original[150, x])  # type: ignore[return-value]

    assert shown(seeded, 150, 150) == before(150)
    assert shown(seeded, 190, 150) == before(190)
    assert shown(seeded, 210, 150) == colour_of_seed(0)
    assert shown(seeded, 260, 150) == colour_of_seed(0)
    qtbot.keyClick(seeded.canvas, Qt.Key.Key_Y)
    assert canvas.split_x is None
    assert shown(seeded, 150, 150) == colour_of_seed(0)


def test_plan_overlay_toggle(seeded: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(seeded, tmp_path)
    stroke(qtbot, seeded, [(150, 150), (250, 150)])
    seeded.run_inpaint()
    wait_for_result(qtbot, seeded)
    qtbot.mouseMove(seeded.canvas, QPoint(2, 2))
    rects = seeded.canvas.plan_rects
    assert rects and rects[0].contains(200, 150)
    edge = rects[0].left(), (rects[0].top() + rects[0].bottom()) // 2
    with_plan = seeded.canvas.grab().toImage()
    seeded.review.plan_action.trigger()
    assert not seeded.canvas.plan_visible
    without = seeded.canvas.grab().toImage()
    assert with_plan != without
    assert shown(seeded, *edge) == tuple(int(v) for v in seeded.current_pixels[edge[1], edge[0]])  # type: ignore[index]


# -- live preview --------------------------------------------------------------------------------------------


def test_live_preview_shows_inside_the_mask_only_and_is_replaced_by_the_result(qtbot: QtBot, tmp_path: Path) -> None:
    fake = seeded_engine(previews=True)
    window = make_window(qtbot, fake)
    window.panel.steps.setValue(4)
    open_photo(window, tmp_path)
    original = window.current_pixels.copy()  # type: ignore[union-attr]
    stroke(qtbot, window, [(150, 150), (250, 150)])
    window.commands.show_mask.trigger()  # mask overlay off: the preview colours are checked exactly
    qtbot.mouseMove(window.canvas, QPoint(2, 2))
    fake.hold(step=2)  # two previews, then the engine waits
    window.run_inpaint()
    qtbot.waitUntil(fake.held.is_set)
    qtbot.waitUntil(lambda: window.review.preview_count >= 2)
    assert shown(window, 200, 150) == PREVIEW  # inside the mask and the region
    assert shown(window, 120, 110) == tuple(int(v) for v in original[110, 120])  # in the region, not the mask
    assert shown(window, 320, 150) == tuple(int(v) for v in original[150, 320])  # outside the region
    fake.release()
    wait_for_result(qtbot, window)
    assert window.canvas.live_preview is None
    assert shown(window, 200, 150) == colour_of_seed(0)


def test_live_preview_goes_away_on_cancel(qtbot: QtBot, tmp_path: Path) -> None:
    fake = seeded_engine(previews=True)
    window = make_window(qtbot, fake)
    window.panel.steps.setValue(4)
    open_photo(window, tmp_path)
    stroke(qtbot, window, [(150, 150), (250, 150)])
    fake.hold(step=2)
    window.run_inpaint()
    qtbot.waitUntil(lambda: window.canvas.live_preview is not None)
    window.commands.cancel.trigger()
    qtbot.waitUntil(lambda: window.job is None)
    assert window.canvas.live_preview is None and window.pending_result is None


# -- mask tools ----------------------------------------------------------------------------------------------


def test_lasso_fills_the_polygon_in_one_undo_step(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    qtbot.keyClick(editor.canvas, Qt.Key.Key_L)
    assert editor.commands.lasso.isChecked()
    stroke(qtbot, editor, [(100, 100), (200, 100), (200, 200), (150, 240), (100, 200)])
    mask = editor.canvas.mask_array
    assert mask[105:195, 105:195].min() == 255
    assert mask[210, 150] == 255  # the pointed bottom
    assert mask[90, 150] == 0 and mask[150, 210] == 0 and mask[235, 110] == 0
    assert editor.undo_stack.count() == 1
    editor.commands.undo.trigger()
    assert not editor.canvas.mask_array.any()


def test_soft_brush_paints_a_fading_edge(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    editor.canvas.set_brush_size(40)
    stroke(qtbot, editor, [(100, 150), (100, 150)])
    hard = editor.canvas.mask_array[150, 70:131]
    assert set(np.unique(hard)) == {0, 255}

    editor.tool_bar.hardness_spin.setValue(0)
    assert editor.canvas.hardness == 0
    stroke(qtbot, editor, [(250, 150), (250, 150)])
    soft = editor.canvas.mask_array[150, 220:281].astype(int)
    assert soft[30] >= 240 and soft[0] == 0 and soft[-1] == 0
    middle = soft[12]  # 18 px from the centre of a 20 px radius
    assert 0 < middle < 128
    assert np.all(np.diff(soft[:31]) >= 0)  # rising towards the centre
    assert editor.undo_stack.count() == 2
    qtbot.keyClick(editor, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.ShiftModifier)
    assert editor.canvas.hardness == 0.25


def test_ctrl_or_alt_drag_sizes_the_brush_with_the_outline_shown(
    editor: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    open_photo(editor, tmp_path)
    canvas = editor.canvas
    anchor = canvas.photo_to_widget(QPointF(200, 150)).toPoint()
    for modifier in (Qt.KeyboardModifier.AltModifier, Qt.KeyboardModifier.ControlModifier):
        canvas.set_brush_size(20)
        qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, modifier, pos=anchor)
        qtbot.mouseMove(canvas, anchor + QPoint(40, 3))
        assert canvas.brush_size == 100  # the outline's edge follows the pointer: 20 + 2 × 40
        assert editor.tool_bar.size_spin.value() == 100
        sizing = canvas.grab().toImage()
        qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, modifier, pos=anchor + QPoint(40, 3))
        qtbot.mouseMove(canvas, QPoint(2, 2))
        plain = canvas.grab().toImage()
        radius = round(50 * canvas.zoom)
        for side in (-1, 1):  # the outline is drawn around the anchor, at the new size, while dragging
            ring = [QPoint(anchor.x() + side * radius + dx, anchor.y()) for dx in range(-2, 3)]
            assert any(sizing.pixelColor(p) != plain.pixelColor(p) for p in ring)
        assert not canvas.mask_array.any() and editor.undo_stack.count() == 0


def test_pinch_zoom_and_scroll_bars(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    canvas = editor.canvas
    view = editor.canvas_view
    canvas.fit()
    assert not view.horizontal.isEnabled() and not view.horizontal.isVisibleTo(view)
    zoom = canvas.zoom
    centre = QPointF(canvas.width() / 2, canvas.height() / 2)
    event = QNativeGestureEvent(
        Qt.NativeGestureType.ZoomNativeGesture,
        QPointingDevice.primaryPointingDevice(),
        2,
        centre,
        centre,
        QPointF(canvas.mapToGlobal(centre.toPoint())),
        1.0,
        QPointF(0, 0),
    )
    QApplication.sendEvent(canvas, event)
    assert canvas.zoom == pytest.approx(zoom * 2)
    canvas.set_zoom(4.0)
    assert view.horizontal.isEnabled() and view.vertical.isEnabled()
    assert view.horizontal.isVisibleTo(view) and view.vertical.isVisibleTo(view)
    before = canvas.offset
    view.horizontal.setValue(view.horizontal.value() + 100)
    assert canvas.offset.x() == pytest.approx(before.x() - 100)
    assert canvas.offset.y() == pytest.approx(before.y())
    canvas.pan_by(QPointF(0, -50))
    assert view.vertical.value() == round(-canvas.offset.y())


class ShowHideCounter(QObject):
    """Counts how often the watched widgets are shown or hidden."""

    def __init__(self, *widgets: QWidget) -> None:
        super().__init__()
        self.count = 0
        for widget in widgets:
            widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Show, QEvent.Type.Hide):
            self.count += 1
        return False


def test_scroll_bars_show_only_while_the_photo_overflows_and_settle_at_the_boundary(qtbot: QtBot) -> None:
    canvas = Canvas(EditorDocument())
    view = CanvasView(canvas)
    qtbot.addWidget(view)
    photo = QImage(400, 300, QImage.Format.Format_RGB32)
    photo.fill(QColor(90, 120, 150))
    canvas.set_photo(photo)
    view.resize(700, 500)
    view.show()
    qtbot.waitExposed(view)
    canvas.fit()
    qtbot.wait(20)
    assert not view.horizontal.isVisible() and not view.vertical.isVisible()  # the whole photo fits
    assert canvas.size() == view.size()

    canvas.set_zoom(2.0)  # 800 × 600 on screen
    bar_w, bar_h = view.vertical.sizeHint().width(), view.horizontal.sizeHint().height()
    counter = ShowHideCounter(view.horizontal, view.vertical)
    # (view size, expected horizontal bar, expected vertical bar). The first fits only without bars: half a
    # bar too narrow with them, which is where hiding and showing could chase each other.
    for size, wide, tall in (
        (QSize(800 + bar_w // 2, 600 + bar_h // 2), False, False),
        (QSize(800 + bar_w // 2, 590), True, True),  # too short, and the vertical bar makes it too narrow
        (QSize(800 + bar_w + 10, 590), False, True),
        (QSize(700, 500), True, True),
        (QSize(800 + bar_w // 2, 600 + bar_h // 2), False, False),
    ):
        view.resize(size)
        qtbot.wait(30)
        assert (view.horizontal.isVisible(), view.vertical.isVisible()) == (wide, tall), size
        settled = counter.count
        qtbot.wait(60)
        assert counter.count == settled, f"the bars kept toggling at {size}"
        room = QSize(size.width() - (bar_w if tall else 0), size.height() - (bar_h if wide else 0))
        assert canvas.size() == room
        assert view.horizontal.maximum() == (800 - room.width() if wide else 0)


def test_bars_needed_counts_the_room_the_other_bar_takes() -> None:
    bars = QSize(15, 15)
    assert bars_needed(QSizeF(400, 300), QSize(400, 300), bars) == (False, False)
    assert bars_needed(QSizeF(400.3, 300), QSize(400, 300), bars) == (False, False)  # rounding, not overflow
    assert bars_needed(QSizeF(395, 310), QSize(400, 300), bars) == (True, True)
    assert bars_needed(QSizeF(380, 310), QSize(400, 300), bars) == (False, True)
    assert bars_needed(QSizeF(410, 290), QSize(400, 300), bars) == (True, True)
    assert bars_needed(QSizeF(410, 280), QSize(400, 300), bars) == (True, False)


# -- settings panel and looks --------------------------------------------------------------------------------


def test_device_precision_and_colour_strength_are_saved_and_used(qtbot: QtBot, tmp_path: Path) -> None:
    from core.job.settings_file import load_settings

    fake = FakeEngine()
    window = MainWindow(engine_factory=fake.factory())
    qtbot.addWidget(window)
    panel = window.panel
    panel.device_choice.setCurrentIndex(panel.device_choice.findData("cpu"))
    panel.precision.setCurrentIndex(panel.precision.findData("float32"))
    panel.colour_strength.setValue(40)
    panel.steps.setValue(1)
    saved = load_settings().settings
    assert (saved.device, saved.precision, saved.colour_match_strength) == ("cpu", "float32", 0.4)
    assert panel.device_choice.toolTip() and panel.precision.toolTip() and panel.colour_strength.toolTip()
    open_photo(window, tmp_path)
    window.canvas.mask_array[140:160, 190:210] = 255
    window.run_inpaint()
    qtbot.waitUntil(lambda: window.pending_result is not None)
    assert [(device, precision) for _name, device, precision in fake.factory_calls] == [("cpu", "float32")]
    assert fake.requests[0].settings.colour_match_strength == pytest.approx(0.4)
    window.shutdown()

    again = MainWindow(engine_factory=fake.factory())
    qtbot.addWidget(again)
    assert again.panel.device_choice.currentData() == "cpu"
    assert again.panel.precision.currentData() == "float32"
    assert again.panel.colour_strength.value() == 40
    again.shutdown()


def test_banners_read_well_with_a_dark_palette(editor: MainWindow) -> None:
    from app.theme import contrast_ratio, tint

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    light = app.palette()
    dark = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, QColor(37, 37, 38)),
        (QPalette.ColorRole.WindowText, QColor(230, 230, 230)),
        (QPalette.ColorRole.Base, QColor(25, 25, 25)),
        (QPalette.ColorRole.Text, QColor(230, 230, 230)),
    ):
        dark.setColor(role, colour)
    try:
        app.setPalette(dark)
        QApplication.processEvents()
        for kind in ("warning", "error"):
            background, text = tint(editor.palette(), kind)
            assert background.lightness() < 110  # stays dark
            assert contrast_ratio(background, text) >= 4.5
        sheet = editor.banner.styleSheet()
        assert tint(editor.palette(), "warning")[0].name() in sheet
    finally:
        app.setPalette(light)
    for kind in ("warning", "error"):
        background, text = tint(editor.palette(), kind)
        assert contrast_ratio(background, text) >= 4.5


def test_new_actions_are_in_menus_with_shortcuts(editor: MainWindow) -> None:
    in_menus = set()
    for menu_action in editor.menuBar().actions():
        menu = menu_action.menu()
        if menu is not None:
            in_menus.update(menu.actions())  # type: ignore[attr-defined]
    for action in (
        editor.commands.lasso,
        editor.commands.softer,
        editor.commands.harder,
        editor.review.split_action,
        editor.review.plan_action,
        editor.review.previous_action,
        editor.review.next_action,
        editor.review.history_action,
    ):
        assert action in in_menus, action.text()
        assert not action.shortcut().isEmpty(), action.text()


def test_fill_colour_constant_is_shared() -> None:
    assert FILL != PREVIEW  # the preview test relies on the two being different


def test_live_preview_arrives_from_the_tiny_moebius_model(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tiny_model import write_tiny_model

    # The first preview of a window is due at once (core.inpaint.preview), so a short run has at least one.
    write_tiny_model(tmp_path / "models")
    monkeypatch.setenv("MOEBIUS_STUDIO_MODELS", str(tmp_path / "models"))
    window = make_window(qtbot, None)  # the real engine factory
    window.panel.steps.setValue(4)
    window.panel.engine.setCurrentIndex(window.panel.engine.findData("moebius"))
    open_photo(window, tmp_path)
    stroke(qtbot, window, [(150, 150), (250, 150)])
    regions: list[object] = []
    window.service.worker.progressed.connect(
        lambda _id, event: regions.append(event.region) if event.preview is not None else None
    )
    window.run_inpaint()
    qtbot.waitUntil(lambda: window.pending_result is not None or window.message.isVisible(), timeout=120_000)
    assert window.pending_result is not None, window.message.text()
    assert window.review.preview_count >= 1 and regions
    left, top, width, height = regions[0]  # type: ignore[misc]
    assert left <= 150 and top <= 150 and left + width >= 250 and top + height >= 150
    assert window.canvas.live_preview is None


def test_every_menu_action_is_keyboard_reachable_and_shortcuts_are_unique(editor: MainWindow) -> None:
    seen: dict[str, str] = {}
    for menu_action in editor.menuBar().actions():
        assert "&" in menu_action.text(), menu_action.text()  # Alt+letter opens the menu
        menu = menu_action.menu()
        assert menu is not None
        for action in menu.actions():  # type: ignore[attr-defined]
            if action.isSeparator() or action.menu() is not None:
                continue
            assert "&" in action.text(), action.text()
            for shortcut in action.shortcuts():
                key = shortcut.toString()
                assert key not in seen, f"{key} is both {seen[key]!r} and {action.text()!r}"
                seen[key] = action.text()


def test_history_budget_in_bytes_evicts_the_oldest_but_never_the_newest() -> None:
    from app.editor.history import HistoryEntry, ResultsHistory
    from core.job.settings import JobSettings

    photo = np.zeros((100, 100, 3), np.uint8)
    mask = np.zeros((100, 100), np.uint8)
    mask[10:60, 10:60] = 255
    history = ResultsHistory(max_bytes=20_000)

    entries = []
    for seed in range(3):
        image = photo.copy()
        image[mask >= 128] = colour_of_seed(seed)
        entry = HistoryEntry.from_result(photo, mask, InpaintResult(image, seed, "fake"), JobSettings())
        assert entry.rect.width() == entry.rect.height() == 50
        entries.append(entry)
        history.add(entry)
    # Each entry holds 2 × 50 × 50 × 3 + 50 × 50 bytes = 17 500: only the newest fits the budget.
    assert history.entries == [entries[-1]]
    assert history.last_note == "The oldest result was dropped from the history to save memory."
