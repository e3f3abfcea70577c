"""Moebius Studio's desktop interface (PySide6).

Nothing in this package imports torch (or other heavy libraries) at module level: the window has to appear
before the model stack loads. ruff's banned-module-level-imports rule and tests/test_import_rules.py check it.
"""
