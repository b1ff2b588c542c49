"""A start-up problem the user can fix; printed as one line, never as a traceback."""

from __future__ import annotations


class StackError(RuntimeError):
    pass
