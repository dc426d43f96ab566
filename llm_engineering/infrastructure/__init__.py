"""Adapters to the outside world: stores, models, clients and the API."""
