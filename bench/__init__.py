"""Benchmarks: ./run.sh bench NAME runs python -m bench.NAME; each prints its ratio last."""
