"""A live loss curve for a training run: training loss per logged step, validation per evaluation.

Both are mean cross-entropy per target token (nats), so the two curves share one axis; the
validation point at step 0 is the model before any training.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QWidget

TRAIN_COLOR = "#1f77b4"
VALID_COLOR = "#d62728"


class LossPlot(pg.PlotWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lossPlot")
        self.setMinimumHeight(180)
        palette = self.palette()
        self.setBackground(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.Text)
        for name in ("left", "bottom"):
            axis = self.getAxis(name)
            axis.setPen(pg.mkPen(text))
            axis.setTextPen(pg.mkPen(text))
        self.setLabel("bottom", "step")
        self.setLabel("left", "loss (nats per token)")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setMouseEnabled(x=False, y=False)  # a live view: panning would fight the updates
        self.hideButtons()
        legend = self.addLegend(offset=(-10, 10))
        legend.setLabelTextColor(text)
        self._train_x: list[float] = []
        self._train_y: list[float] = []
        self._valid_x: list[float] = []
        self._valid_y: list[float] = []
        self.train_curve = self.plot(pen=pg.mkPen(TRAIN_COLOR, width=2), name="training")
        self.valid_curve = self.plot(
            pen=pg.mkPen(VALID_COLOR, width=2),
            symbol="o",
            symbolSize=7,
            symbolBrush=VALID_COLOR,
            symbolPen=None,
            name="validation",
        )

    def add_training(self, step: int, loss: float) -> None:
        self._train_x.append(step)
        self._train_y.append(loss)
        self.train_curve.setData(self._train_x, self._train_y)

    def add_validation(self, step: int, loss: float) -> None:
        self._valid_x.append(step)
        self._valid_y.append(loss)
        self.valid_curve.setData(self._valid_x, self._valid_y)

    def reset(self) -> None:
        for points in (self._train_x, self._train_y, self._valid_x, self._valid_y):
            points.clear()
        self.train_curve.setData([], [])
        self.valid_curve.setData([], [])

    @property
    def points(self) -> tuple[int, int]:
        """How many (training, validation) points are drawn."""
        return len(self._train_x), len(self._valid_x)
