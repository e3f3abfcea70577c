"""Colours of the app's own widgets, derived from the current palette so light and dark mode both read well."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette

# Hues of the two banners; their lightness comes from the palette.
_HUES = {"warning": QColor(214, 160, 20), "error": QColor(200, 50, 50)}


def is_dark(palette: QPalette) -> bool:
    """Whether the palette has light text on a dark window (a dark theme)."""
    return (
        palette.color(QPalette.ColorRole.Window).lightness() < palette.color(QPalette.ColorRole.WindowText).lightness()
    )


def tint(palette: QPalette, kind: str) -> tuple[QColor, QColor]:
    """Background and text colours of a banner: the hue mixed into the window colour, text of the palette.

    Mixing a quarter of the hue into the window background keeps the banner in the theme's brightness, and
    the palette's own text colour on it keeps the contrast the theme was designed for.
    """
    base = palette.color(QPalette.ColorRole.Window)
    hue = _HUES[kind]
    amount = 0.35 if is_dark(palette) else 0.28
    background = QColor(
        round(base.red() * (1 - amount) + hue.red() * amount),
        round(base.green() * (1 - amount) + hue.green() * amount),
        round(base.blue() * (1 - amount) + hue.blue() * amount),
    )
    return background, palette.color(QPalette.ColorRole.WindowText)


def contrast_ratio(first: QColor, second: QColor) -> float:
    """WCAG contrast ratio of two colours (1 = none, 21 = black on white)."""

    def luminance(colour: QColor) -> float:
        def channel(value: float) -> float:
            return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def banner_style(palette: QPalette, kind: str) -> str:
    """A style sheet for a warning or error banner label."""
    background, text = tint(palette, kind)
    return f"QLabel {{ background: {background.name()}; color: {text.name()}; padding: 6px 10px; }}"
