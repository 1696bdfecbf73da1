"""Serving: the HTTP API and the Prometheus exposition, fed by the workers' snapshot log."""
