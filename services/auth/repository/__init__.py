"""All SQL of the auth service, one module per table family."""
