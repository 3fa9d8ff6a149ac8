"""A `main.py finetune --progress json` child process, seen from the GUI thread.

It turns the child's stdout into one `event` signal per progress line (decoded by
`chatapp.finetune.events`; any other line joins the stderr tail), keeps the tail of its
stderr for error reports, and stops it: terminate first (the command cancels within 2 s and
deletes its partial output), then kill if it is still there. The dialog only sees signals.
"""

from __future__ import annotations

import os
import sys
from collections import deque

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal, Slot

from chatapp.finetune.events import read_event_line

KILL_AFTER_MS = 2000  # the command stops within 2 s of SIGTERM; after that it is killed
STDERR_TAIL_CHARS = 6000


def child_environment() -> QProcessEnvironment:
    environment = QProcessEnvironment.systemEnvironment()
    environment.insert("PYTHONUNBUFFERED", "1")
    if not environment.contains("OMP_NUM_THREADS"):
        # Leave a core to the chat: replies stay quick while the fine-tune runs.
        environment.insert("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))
    return environment


class FinetuneProcess(QObject):
    event = Signal(object)  # one ProgressEvent from the child's stdout
    finished = Signal(int, bool)  # exit code, crashed
    failed_to_start = Signal(str)

    def __init__(self, arguments: list[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stderr: deque[str] = deque()
        self._stderr_chars = 0
        self._kill_timer = QTimer(self)  # a child of this object: it never fires after it is gone
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill_if_running)
        self._process = QProcess(self)
        self._process.setProcessEnvironment(child_environment())
        self._process.setProgram(sys.executable)
        self._process.setArguments(arguments)
        self._process.readyReadStandardOutput.connect(self._read_stdout)
        self._process.readyReadStandardError.connect(self._read_stderr)
        self._process.finished.connect(self._on_finished)
        self._process.errorOccurred.connect(self._on_error)

    def start(self) -> None:
        self._process.start()

    def is_running(self) -> bool:
        return self._process.state() != QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """Ask the child to stop; kill it if it has not stopped within `KILL_AFTER_MS`."""
        self._process.terminate()
        self._kill_timer.start(KILL_AFTER_MS)

    def shut_down(self) -> None:
        """The app is closing: stop the child now (bounded wait) rather than orphan it."""
        if not self.is_running():
            return
        self._process.terminate()
        if not self._process.waitForFinished(KILL_AFTER_MS):
            self._process.kill()
            self._process.waitForFinished(1000)

    def stderr_tail(self) -> str:
        return "".join(self._stderr)[-STDERR_TAIL_CHARS:]

    # Child output ----------------------------------------------------------------------------
    @Slot()
    def _read_stdout(self) -> None:
        while self._process.canReadLine():
            line = bytes(self._process.readLine().data()).decode("utf-8", "replace").strip()
            if not line:
                continue
            event = read_event_line(line)
            if event is None:
                self._remember_stderr(line + "\n")  # not an event: keep it for error reports
            else:
                self.event.emit(event)

    @Slot()
    def _read_stderr(self) -> None:
        data = bytes(self._process.readAllStandardError().data())
        self._remember_stderr(data.decode("utf-8", "replace"))

    def _remember_stderr(self, text: str) -> None:
        self._stderr.append(text)
        self._stderr_chars += len(text)
        while self._stderr_chars > STDERR_TAIL_CHARS and len(self._stderr) > 1:
            self._stderr_chars -= len(self._stderr.popleft())

    @Slot()
    def _kill_if_running(self) -> None:
        if self.is_running():
            self._process.kill()

    @Slot(int, QProcess.ExitStatus)
    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self._read_stdout()  # the last lines may arrive together with the exit
        self._read_stderr()
        self.finished.emit(exit_code, exit_status == QProcess.ExitStatus.CrashExit)

    @Slot(QProcess.ProcessError)
    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.failed_to_start.emit(self._process.errorString())
