"""Benchmarks of socketio-cloud beside its peers: run with ``scripts/bench`` (see README.md)."""
