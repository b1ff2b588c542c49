"""Payments HTTP routes: parse, call the service, render."""

from __future__ import annotations

from services.payments.routes.intents import routes

__all__ = ["routes"]
