"""Luigi task modules, one per flow. Run them through ``./run.sh luigi --module pipelines.<flow> Task``
or, the same run, the venv's plain ``luigi --module pipelines.<flow> Task`` (pipelines/plain.py)."""
from pipelines.plain import hand_over_plain_luigi

hand_over_plain_luigi()
