"""Payments rules, one module per area. No SQL here (see `repository/`) and no HTTP types."""
