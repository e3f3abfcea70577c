"""The editor's actions (menu items with their shortcuts) and its menu bar.

Every action is added to the window as well as to a menu, so its shortcut works even while the menu is hidden.
The brush actions act on the canvas directly; the others call the window through :class:`EditorCommands`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QKeyCombination, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QColorDialog, QMainWindow, QMenu, QWidget

from app.editor.canvas import Canvas
from app.editor.document import EditorDocument
from app.editor.mask_tools import BRUSH, ERASER, LASSO, OBJECT, RECTANGLE

RUN_TIP = "Fill the masked area (Ctrl+Enter)"
SHIFTED_SYMBOLS: dict[Qt.Key, Qt.Key] = {
    Qt.Key.Key_Equal: Qt.Key.Key_Plus,
    Qt.Key.Key_Minus: Qt.Key.Key_Underscore,
    Qt.Key.Key_BracketLeft: Qt.Key.Key_BraceLeft,
    Qt.Key.Key_BracketRight: Qt.Key.Key_BraceRight,
    Qt.Key.Key_Backslash: Qt.Key.Key_Bar,
    Qt.Key.Key_Semicolon: Qt.Key.Key_Colon,
    Qt.Key.Key_Apostrophe: Qt.Key.Key_QuoteDbl,
    Qt.Key.Key_Comma: Qt.Key.Key_Less,
    Qt.Key.Key_Period: Qt.Key.Key_Greater,
    Qt.Key.Key_Slash: Qt.Key.Key_Question,
    Qt.Key.Key_QuoteLeft: Qt.Key.Key_AsciiTilde,
    Qt.Key.Key_1: Qt.Key.Key_Exclam,
    Qt.Key.Key_2: Qt.Key.Key_At,
    Qt.Key.Key_3: Qt.Key.Key_NumberSign,
    Qt.Key.Key_4: Qt.Key.Key_Dollar,
    Qt.Key.Key_5: Qt.Key.Key_Percent,
    Qt.Key.Key_6: Qt.Key.Key_AsciiCircum,
    Qt.Key.Key_7: Qt.Key.Key_Ampersand,
    Qt.Key.Key_8: Qt.Key.Key_Asterisk,
    Qt.Key.Key_9: Qt.Key.Key_ParenLeft,
    Qt.Key.Key_0: Qt.Key.Key_ParenRight,
}
"""The US layout's keys whose symbol changes with Shift: unshifted key -> shifted symbol (``=`` -> ``+``)."""
GROW_STEP = 8  # photo pixels per Grow/Shrink
HARDNESS_STEP = 0.25
BRUSH_STEP = 1.2  # size factor of [ and ]


def typed_keys(*texts: str) -> list[QKeySequence]:
    """Key sequences for shortcuts on symbol keys, each also in the other form a key press may arrive in.

    A shortcut with Shift on a symbol key (on a US layout, Ctrl+Shift with the ``=`` key types ``+``) arrives in
    one of two forms: X11 and Wayland map the press to the symbol without Shift (``Ctrl++``) as well as the
    unshifted key with it (``Ctrl+Shift+=``), while other platforms, and Qt's own test events, send the symbol
    with Shift still set (``Ctrl+Shift++``). The Shift-kept form is added here, so a shortcut works either way;
    a single key press never arrives in both of the forms added, so they cannot make a shortcut ambiguous.

    Args:
        texts: key texts such as ``"Ctrl++"``, ``"Ctrl+="`` or ``"Shift+["``; the first is the one menus show.
    """
    shift = Qt.KeyboardModifier.ShiftModifier
    sequences: list[QKeySequence] = []
    for text in texts:
        sequence = QKeySequence(text)
        combination: QKeyCombination = sequence[0]  # type: ignore[index]  # PySide6's stubs lack __getitem__
        key, modifiers = combination.key(), combination.keyboardModifiers()
        forms = [sequence]
        if key in SHIFTED_SYMBOLS.values():  # "Ctrl++": the + key typed with Shift
            forms.append(QKeySequence(QKeyCombination(modifiers | shift, key)))
        elif key in SHIFTED_SYMBOLS and modifiers & shift:  # "Shift+[": arrives as Shift+{ where Shift is kept
            forms.append(QKeySequence(QKeyCombination(modifiers, SHIFTED_SYMBOLS[key])))
        sequences.extend(form for form in forms if form not in sequences)
    return sequences


def make_action(
    owner: QWidget, text: str, slot: Callable[[], object], shortcuts: list[QKeySequence] | None = None, tip: str = ""
) -> QAction:
    """An action of ``owner`` calling ``slot``; its shortcuts work whenever ``owner``'s window is active.

    Args:
        owner: the widget that owns the action (its shortcuts are the window's).
        text: the menu text, ``&`` marking the Alt key letter.
        slot: what triggering it calls (without arguments).
        shortcuts: its key sequences, the first one shown in menus.
        tip: tool tip and status tip.
    """
    action = QAction(text, owner)
    if shortcuts:
        action.setShortcuts(shortcuts)
    if tip:
        action.setToolTip(tip)
        action.setStatusTip(tip)
    action.triggered.connect(lambda _checked=False: slot())
    owner.addAction(action)  # shortcuts work even when the action is only in a hidden menu
    return action


class EditorCommands(Protocol):
    """What the editor's actions ask of the window."""

    def choose_and_open(self) -> None: ...

    def save(self) -> bool: ...

    def save_as(self) -> bool: ...

    def export_mask(self) -> bool: ...

    def close(self) -> bool: ...

    def run_inpaint(self) -> object: ...

    def cancel_run(self) -> None: ...

    def accept_result(self) -> None: ...

    def discard_result(self) -> None: ...

    def run_again(self) -> object: ...

    def run_variations(self) -> object: ...

    def expand_for_shadow(self) -> object: ...

    def show_batch(self) -> object: ...

    def show_dust(self) -> object: ...

    def show_models(self) -> object: ...

    def show_about(self) -> None: ...


class EditorActions:
    """Every action of the editor window, and the menu bar built from them.

    Args:
        window: the editor window: owner of the actions and of the menu bar.
        commands: what the file, run and review actions call (the window).
        document: the document the mask actions change.
        canvas: the canvas the brush, tool and zoom actions drive.
    """

    def __init__(self, window: QMainWindow, commands: EditorCommands, document: EditorDocument, canvas: Canvas) -> None:
        self.window = window
        self.canvas = canvas
        key = QKeySequence
        std = QKeySequence.StandardKey

        def act(
            text: str, slot: Callable[[], object], keys: list[QKeySequence] | None = None, tip: str = ""
        ) -> QAction:
            return make_action(window, text, slot, keys, tip)

        # 1. File.
        self.open = act("&Open…", commands.choose_and_open, key.keyBindings(std.Open), "Open a photo")
        self.save = act(
            "&Save",
            commands.save,
            key.keyBindings(std.Save),
            "Save the edited photo beside the original (NAME_inpainted)",
        )
        self.save_as = act("Save &As…", commands.save_as, key.keyBindings(std.SaveAs))
        self.export_mask = act("Export &Mask…", commands.export_mask, [key("Ctrl+Shift+E")], "Save the mask as a PNG")
        self.quit = act("&Quit", commands.close, key.keyBindings(std.Quit))
        self.quit.setMenuRole(QAction.MenuRole.QuitRole)

        # 2. Undo and redo, from the document's one undo stack.
        self.undo = document.undo_stack.createUndoAction(window, "&Undo")
        self.undo.setShortcuts(key.keyBindings(std.Undo))
        self.redo = document.undo_stack.createRedoAction(window, "&Redo")
        redo_keys = key.keyBindings(std.Redo)
        for extra in (key("Ctrl+Shift+Z"), key("Ctrl+Y")):
            if extra not in redo_keys:
                redo_keys.append(extra)
        self.redo.setShortcuts(redo_keys)
        window.addAction(self.undo)
        window.addAction(self.redo)

        # 3. Mask tools and mask edits.
        self.brush = act("&Brush", lambda: canvas.set_tool(BRUSH), [key("B")], "Paint what to remove (B)")
        self.eraser = act("&Eraser", lambda: canvas.set_tool(ERASER), [key("E")], "Erase the mask (E)")
        self.rectangle = act("&Rectangle", lambda: canvas.set_tool(RECTANGLE), [key("R")], "Drag a box to mask (R)")
        self.lasso = act(
            "&Lasso", lambda: canvas.set_tool(LASSO), [key("L")], "Draw around an area to mask all of it (L)"
        )
        self.object_tool = act(
            "&Object Selection",
            lambda: canvas.set_tool(OBJECT),
            [key("W")],
            "Drag a box around an object: the mask snaps to it (W)",
        )
        self._tools = {
            BRUSH: self.brush,
            ERASER: self.eraser,
            RECTANGLE: self.rectangle,
            LASSO: self.lasso,
            OBJECT: self.object_tool,
        }
        group = QActionGroup(window)
        for action in self._tools.values():
            action.setCheckable(True)
            group.addAction(action)
        self._tools[canvas.tool].setChecked(True)
        canvas.tool_changed.connect(lambda tool: self._tools[tool].setChecked(True))
        self.smaller = act("S&maller Brush", lambda: canvas.resize_brush(1 / BRUSH_STEP), [key("[")])
        self.bigger = act("B&igger Brush", lambda: canvas.resize_brush(BRUSH_STEP), [key("]")])
        self.softer = act(
            "So&fter Brush", lambda: canvas.set_hardness(canvas.hardness - HARDNESS_STEP), typed_keys("Shift+[")
        )
        self.harder = act(
            "&Harder Brush", lambda: canvas.set_hardness(canvas.hardness + HARDNESS_STEP), typed_keys("Shift+]")
        )
        self.clear_mask = act("&Clear Mask", document.clear_mask, [key("Ctrl+Shift+A")])
        self.invert_mask = act("&Invert Mask", document.invert_mask, [key("Ctrl+I")])
        # Ctrl with [ and ], like [ and ] for the brush: the = and - keys belong to the zoom (see below).
        grow_tip = f"by {GROW_STEP} photo pixels"
        self.grow_mask = act(
            "&Grow Mask", lambda: document.grow_mask(GROW_STEP), [key("Ctrl+]")], f"Grow the mask {grow_tip} (Ctrl+])"
        )
        self.shrink_mask = act(
            "Shrin&k Mask",
            lambda: document.grow_mask(-GROW_STEP),
            [key("Ctrl+[")],
            f"Shrink the mask {grow_tip} (Ctrl+[)",
        )
        self.shadow = act(
            "Expand to Include S&hadow",
            commands.expand_for_shadow,
            tip="Grow the mask downward by a quarter of its height, to remove the object's shadow too",
        )
        self.show_mask = act("&Show Mask", self._toggle_mask, [key("H")], "Show or hide the mask (H)")
        self.show_mask.setCheckable(True)
        self.show_mask.setChecked(True)
        self.overlay_colour = act("Mask &Colour…", self.choose_overlay_colour)

        # 4. View.
        # Ctrl with the =/+ key zooms in with or without Shift, as in other photo editors (typed_keys).
        zoom_in_keys = typed_keys("Ctrl++", "Ctrl+=")
        zoom_in_keys += [k for k in key.keyBindings(std.ZoomIn) if k not in zoom_in_keys]  # e.g. a zoom media key
        self.zoom_in = act("Zoom &In", canvas.zoom_in, zoom_in_keys)
        zoom_out_keys = [key("Ctrl+-")] + [k for k in key.keyBindings(std.ZoomOut) if k != key("Ctrl+-")]
        self.zoom_out = act("Zoom &Out", canvas.zoom_out, zoom_out_keys)
        self.fit = act("&Fit in Window", canvas.fit, [key("Ctrl+0")])
        self.actual_size = act("&Actual Size (100 %)", lambda: canvas.set_zoom(1.0), [key("Ctrl+1")])

        # 5. Inpaint and review.
        self.run = act("&Inpaint", commands.run_inpaint, [key("Ctrl+Return"), key("Ctrl+Enter")], RUN_TIP)
        self.cancel = act("&Cancel", commands.cancel_run, [key("Esc")], "Stop the running inpaint (Esc)")
        self.accept = act("&Accept Result", commands.accept_result, [key("Ctrl+Shift+Return")])
        self.discard = act("&Discard Result", commands.discard_result, [key("Ctrl+Backspace")])
        self.again = act("Try Another &Seed", commands.run_again, [key("Ctrl+Shift+R")])
        self.variations = act(
            "&Variations",
            commands.run_variations,
            [key("Ctrl+Alt+Return"), key("Ctrl+Alt+Enter")],
            "Make several results of the mask, each with a new seed, to choose from (Ctrl+Alt+Enter)",
        )

        # 6. Other windows.
        self.batch = act("&Batch…", commands.show_batch, [key("Ctrl+B")], "Inpaint a folder of photos with their masks")
        self.dust = act(
            "Find Sensor &Dust…", commands.show_dust, [], "Find dust spots that repeat across a shoot and mask them"
        )
        self.models = act(
            "&Models…", commands.show_models, [key("Ctrl+Shift+M")], "Download, import, verify or remove the weights"
        )
        self.about = act("&About Moebius Studio", commands.show_about)
        self.about.setMenuRole(QAction.MenuRole.AboutRole)

    def _toggle_mask(self) -> None:
        self.canvas.mask_visible = self.show_mask.isChecked()
        self.canvas.update()

    def choose_overlay_colour(self) -> None:
        colour = QColorDialog.getColor(self.canvas.overlay_colour, self.window, "Mask Colour")
        if colour.isValid():
            self.canvas.overlay_colour = colour
            self.canvas.update()

    def build_menus(self, view_extra: list[QAction], run_extra: list[QAction], panel_action: QAction) -> QMenu:
        """Fill the window's menu bar; returns the Open Recent menu (filled by the window).

        Args:
            view_extra: more View actions (the review's split view and plan outline).
            run_extra: more Inpaint actions (the review's history navigation).
            panel_action: the action that shows and hides the settings panel.
        """
        bar = self.window.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open)
        recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addAction(self.batch)
        file_menu.addAction(self.dust)
        file_menu.addSeparator()
        file_menu.addActions([self.save, self.save_as, self.export_mask])
        file_menu.addSeparator()
        file_menu.addAction(self.quit)

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addActions([self.undo, self.redo])

        mask_menu = bar.addMenu("&Mask")
        mask_menu.addActions([*self._tools.values(), self.smaller, self.bigger, self.softer, self.harder])
        mask_menu.addSeparator()
        mask_menu.addActions(
            [
                self.clear_mask,
                self.invert_mask,
                self.grow_mask,
                self.shrink_mask,
                self.shadow,
                self.show_mask,
                self.overlay_colour,
            ]
        )

        view_menu = bar.addMenu("&View")
        view_menu.addActions([self.zoom_in, self.zoom_out, self.fit, self.actual_size])
        view_menu.addSeparator()
        view_menu.addActions(view_extra)
        view_menu.addSeparator()
        view_menu.addAction(panel_action)

        run_menu = bar.addMenu("&Inpaint")
        run_menu.addActions([self.run, self.variations, self.cancel, self.accept, self.discard, self.again])
        run_menu.addSeparator()
        run_menu.addActions(run_extra)

        help_menu = bar.addMenu("&Help")
        help_menu.addActions([self.models, self.about])
        return recent_menu

    def update_enabled(
        self, *, has_photo: bool, running: bool, reviewing: bool, batch: bool, batch_tip: str, seeded: bool = True
    ) -> None:
        """Enable what may be done now.

        Args:
            has_photo: a photo is open.
            running: the editor's job runs.
            reviewing: a result is under review.
            batch: a batch runs (the editor's job would wait behind all of it).
            batch_tip: why Inpaint is off while a batch runs.
            seeded: the engine that runs (or ran the result under review) gives another fill for another seed;
                without that, variations and another seed would repeat the same picture.
        """
        for action in (self.save, self.save_as, self.export_mask, self.clear_mask, self.invert_mask, self.shadow):
            action.setEnabled(has_photo)
        self.run.setEnabled(has_photo and not running and not reviewing and not batch)
        self.run.setToolTip(batch_tip if batch else RUN_TIP)
        self.run.setStatusTip(batch_tip if batch else RUN_TIP)  # menus show it when hovered
        self.variations.setEnabled(has_photo and not running and not reviewing and not batch and seeded)
        self.cancel.setEnabled(running)
        for action in (self.accept, self.discard):
            action.setEnabled(reviewing and not running)
        self.again.setEnabled(reviewing and not running and not batch and seeded)
