"""Operator tooling behind ``./run.sh``: commands that read the ledger, the registries and the
schedule and print what an operator needs. They reuse the flows' own parts (targets, formats,
registry) and never duplicate a flow's logic."""
