"""The installed Qt binding must not leak or lose references when the app emits signals.

PySide6 6.12.0 drops one reference to ``True`` on every ``Signal.emit()`` made from Python; the app emits on
every progress step, pan and zoom, so after some thousands of emits the interpreter aborts
("Fatal Python error: bool_dealloc"). pyproject.toml excludes that release; this test catches a binding with
the same fault.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    plain = Signal()
    with_arguments = Signal(int, object)


def test_emitting_keeps_reference_counts_balanced(qapp: object) -> None:
    emitter = _Emitter()
    received: list[object] = []
    emitter.with_arguments.connect(lambda job, event: received.append(event))
    payload = object()
    true_before, payload_before = sys.getrefcount(True), sys.getrefcount(payload)
    for _ in range(200):
        emitter.plain.emit()
        emitter.with_arguments.emit(1, payload)
    received.clear()
    # 400 emits: a binding with the fault would be 400 references short; allow for unrelated noise of one or two.
    assert abs(sys.getrefcount(True) - true_before) <= 2
    assert sys.getrefcount(payload) == payload_before
