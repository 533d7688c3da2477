"""Luigi task modules, one per flow. Run them through ``./run.sh luigi --module pipelines.<flow> Task``."""
