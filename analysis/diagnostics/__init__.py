"""Representation diagnostics: the metrics (plain numeric code), the STS reader, and the stored runs
that compute them in a worker (models, selectors, services, views)."""
