"""All SQL of the events service: the log, the endpoints, the deliveries and their attempts."""
