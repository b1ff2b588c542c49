"""Events rules and workers. No SQL here (see repository/) and no HTTP request types."""
