"""Payments rules, one module per area. No SQL here (see repository.py) and no HTTP types."""
