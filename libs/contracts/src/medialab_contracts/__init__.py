"""Contracts shared by every MediaLab service: message models, NATS names, the catalog, errors."""
