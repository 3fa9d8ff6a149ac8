"""Light, dark or the system's colours, and the font size, applied app-wide.

Colours come from Qt's own colour-scheme support: the Fusion style asked for a light or dark
scheme (`QStyleHints.setColorScheme`), or following the system's. Where the platform cannot
switch schemes (the offscreen platform, a bare X11 session), the palette Fusion itself uses for
a dark scheme is set instead: every role and the disabled colours, so a disabled button looks
disabled and the dock's buttons and check boxes keep their outlines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QPointF, QRect, QSettings, QSize, Qt
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QColor,
    QFont,
    QIcon,
    QIconEngine,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QApplication,
    QMenu,
    QProxyStyle,
    QStyle,
    QStyleFactory,
    QStyleOption,
    QWidget,
)

THEMES = ("system", "light", "dark")
DEFAULT_THEME = "system"
# The Settings › Font size menu, in points; the app starts at the size the menu calls Normal.
FONT_SIZE_MENU = {"Small": 9, "Normal": 11, "Large": 13, "Larger": 16}
DEFAULT_FONT_SIZE = FONT_SIZE_MENU["Normal"]
THEME_KEY, FONT_SIZE_KEY = "ui/theme", "ui/font_size"
_SCHEMES = {
    "system": Qt.ColorScheme.Unknown,
    "light": Qt.ColorScheme.Light,
    "dark": Qt.ColorScheme.Dark,
}
_system_style: str | None = None
_current_theme = DEFAULT_THEME


def fusion_palette(*, dark: bool) -> QPalette:
    """The palette of Qt's Fusion style for a light or dark scheme (qt_fusionPalette)."""
    window_text = QColor(240, 240, 240) if dark else QColor(Qt.GlobalColor.black)
    background = QColor(50, 50, 50) if dark else QColor(239, 239, 239)
    mid, dark_role = background.darker(130), background.darker(150)
    base = background.darker(140) if dark else QColor(Qt.GlobalColor.white)
    text = window_text if dark else QColor(Qt.GlobalColor.black)
    highlight = QColor(48, 140, 198)
    shadow = dark_role.darker(135)
    palette = QPalette(window_text, background, background.lighter(150), dark_role, mid, text, base)
    palette.setColor(QPalette.ColorRole.Midlight, mid.lighter(110))
    palette.setColor(QPalette.ColorRole.Button, background)
    palette.setColor(QPalette.ColorRole.Shadow, shadow)
    palette.setColor(
        QPalette.ColorRole.HighlightedText, window_text if dark else Qt.GlobalColor.white
    )
    palette.setColor(QPalette.ColorRole.Highlight, highlight)
    palette.setColor(QPalette.ColorRole.Accent, highlight)
    placeholder = QColor(text)
    placeholder.setAlpha(128)
    palette.setColor(QPalette.ColorRole.PlaceholderText, placeholder)
    if dark:  # Qt's own choice: a light blue link is legible on a dark background
        palette.setColor(QPalette.ColorRole.Link, highlight)
    disabled = QPalette.ColorGroup.Disabled
    disabled_text = QColor(130, 130, 130) if dark else QColor(190, 190, 190)
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(disabled, role, disabled_text)
    palette.setColor(disabled, QPalette.ColorRole.Base, background)
    palette.setColor(disabled, QPalette.ColorRole.Dark, QColor(209, 209, 209).darker(110))
    palette.setColor(disabled, QPalette.ColorRole.Shadow, shadow.lighter(150))
    palette.setColor(disabled, QPalette.ColorRole.Highlight, QColor(145, 145, 145))
    return palette


class _TitleButtonIcon(QIconEngine):
    """A dock title button's float or close mark, drawn in the text colour of the palette in
    force when it is painted: Fusion's own bitmaps are dark grey, near invisible on dark."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self._kind = kind

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        disabled = mode == QIcon.Mode.Disabled
        group = QPalette.ColorGroup.Disabled if disabled else QPalette.ColorGroup.Active
        pen = QPen(QApplication.palette().color(group, QPalette.ColorRole.WindowText), 1.2)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(pen)
        inset = max(1, rect.width() // 8)
        box = rect.adjusted(inset, inset, -inset - 1, -inset - 1)
        step = max(2, box.width() // 3)
        if self._kind == "close":
            painter.drawLine(QPointF(box.topLeft()), QPointF(box.bottomRight()))
            painter.drawLine(QPointF(box.topRight()), QPointF(box.bottomLeft()))
        else:  # float: two overlapping windows
            painter.drawRect(box.adjusted(0, step, -step, 0))
            painter.drawPolyline(
                [QPointF(box.left() + step, box.top()), QPointF(box.topRight()),
                 QPointF(box.right(), box.bottom() - step)]
            )  # fmt: skip
        painter.restore()

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pixmap = QPixmap(size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        self.paint(painter, QRect(0, 0, size.width(), size.height()), mode, state)
        painter.end()
        return pixmap

    def clone(self) -> QIconEngine:
        return _TitleButtonIcon(self._kind)


_TITLE_ICONS = {
    QStyle.StandardPixmap.SP_TitleBarCloseButton: "close",
    QStyle.StandardPixmap.SP_DockWidgetCloseButton: "close",
    QStyle.StandardPixmap.SP_TitleBarNormalButton: "float",
}


class AppStyle(QProxyStyle):
    """Fusion, with what its dark palette leaves hard to see drawn in the text colour: the
    dock's float and close buttons, and the frame of a check box ("Show archived")."""

    def __init__(self) -> None:
        super().__init__(QStyleFactory.create("Fusion"))

    def name(self) -> str:
        return "fusion"

    def standardIcon(
        self,
        standard_icon: QStyle.StandardPixmap,
        option: QStyleOption | None = None,
        widget: QWidget | None = None,
    ) -> QIcon:
        if standard_icon in _TITLE_ICONS:
            return QIcon(_TitleButtonIcon(_TITLE_ICONS[standard_icon]))
        return super().standardIcon(standard_icon, option, widget)

    def drawPrimitive(
        self,
        element: QStyle.PrimitiveElement,
        option: QStyleOption,
        painter: QPainter,
        widget: QWidget | None = None,
    ) -> None:
        super().drawPrimitive(element, option, painter, widget)
        dark = option.palette.color(QPalette.ColorRole.Window).lightness() < 128
        if element == QStyle.PrimitiveElement.PE_IndicatorCheckBox and dark:
            frame = QColor(option.palette.color(QPalette.ColorRole.WindowText))
            frame.setAlpha(140 if option.state & QStyle.StateFlag.State_Enabled else 60)
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(frame, 1))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(option.rect.adjusted(0, 0, -1, -1), 2, 2)
            painter.restore()


def current_theme() -> str:
    return _current_theme


def apply_theme(theme: str) -> None:
    global _system_style, _current_theme
    app = QApplication.instance()
    if not isinstance(app, QApplication) or theme not in THEMES:
        return
    _current_theme = theme
    if _system_style is None:
        _system_style = app.style().name()
    # "system" keeps the platform's own style; an explicit scheme needs Fusion, which follows it.
    native = theme == "system" and _system_style.lower() != "fusion"
    if native and app.style().name().lower() != _system_style.lower():
        app.setStyle(QStyleFactory.create(_system_style))
    elif not native and not isinstance(app.style(), AppStyle):
        app.setStyle(AppStyle())
    hints = app.styleHints()
    if theme == "system":
        hints.unsetColorScheme()
    else:
        hints.setColorScheme(_SCHEMES[theme])
    if theme == "system" or hints.colorScheme() == _SCHEMES[theme]:
        app.setPalette(QPalette())  # the platform's palette for the scheme in force
    else:
        app.setPalette(fusion_palette(dark=theme == "dark"))


def apply_font_size(points: int) -> None:
    app = QApplication.instance()
    if isinstance(app, QApplication) and 6 <= points <= 32:
        font = QFont(app.font())
        font.setPointSize(points)
        app.setFont(font)


class AppearanceMenus(QObject):
    """Settings › Font size and Settings › Theme: exclusive, checkable, saved in `settings`."""

    def __init__(
        self, menu: QMenu, settings: QSettings, on_font_changed: Callable[[], None]
    ) -> None:
        super().__init__(menu)
        self._settings, self._on_font_changed = settings, on_font_changed
        self.font_actions = self._group(
            menu.addMenu("&Font size"),
            {points: label for label, points in FONT_SIZE_MENU.items()},
            self.set_font_size,
        )
        self.theme_actions = self._group(
            menu.addMenu("&Theme"), {theme: theme.capitalize() for theme in THEMES}, self.set_theme
        )
        self._check(self.font_actions, QApplication.font().pointSize())
        self._check(self.theme_actions, current_theme())

    @staticmethod
    def _check(actions: dict[Any, QAction], current: object) -> None:
        """Mark the entry in force (none for a size set by hand that no entry names)."""
        for value, action in actions.items():
            action.setChecked(value == current)

    def _group(
        self, menu: QMenu, labels: dict[Any, str], choose: Callable[[Any], None]
    ) -> dict[Any, QAction]:
        group = QActionGroup(menu)
        group.setExclusive(True)
        actions = {}
        for value, label in labels.items():
            action = QAction(label, menu)
            action.setCheckable(True)
            action.triggered.connect(lambda _=False, v=value: choose(v))
            group.addAction(action)
            menu.addAction(action)
            actions[value] = action
        return actions

    def set_font_size(self, points: int) -> None:
        apply_font_size(points)
        self._check(self.font_actions, points)
        self._settings.setValue(FONT_SIZE_KEY, points)
        self._on_font_changed()

    def set_theme(self, theme: str) -> None:
        apply_theme(theme)
        self._check(self.theme_actions, theme)
        self._settings.setValue(THEME_KEY, theme)
