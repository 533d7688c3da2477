"""Issue 28 item 6: the diagrams in docs/ cannot drift. docs/erd.md is what ./run.sh diagrams
makes from a freshly migrated database's catalogue, docs/flows.md what it makes from the
registries; a change to sql/ or a registry that changes them fails here until the command is
run (ETL_UPDATE_DIAGRAMS=1 writes them from this test, as ETL_UPDATE_GOLDEN does for views)."""
import os

from ops.diagrams import ERD, FLOWS, erd, flows
from targets.postgres import PostgresClient

UPDATE = os.environ.get("ETL_UPDATE_DIAGRAMS") == "1"


def _same(path, text):
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: ./run.sh diagrams"


def test_the_flow_diagram_is_the_registries():
    text = flows()
    _same(FLOWS, text)
    for name in ("push_clever", "pull_savvas_scores", "forward_savvas_scores_to_otus", "slot_SftpOperations",
                 "folder_misc_imports"):
        assert name in text


def test_the_erd_is_the_migrated_schema(pg_settings):
    client = PostgresClient(pg_settings)
    client.migrate()
    try:
        with client.transaction() as cur:
            text = erd(cur)
            cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'dba' "
                        "AND table_type = 'BASE TABLE'")
            tables = cur.fetchone()[0]
    finally:
        client.close()
    _same(ERD, text)
    assert text.count(" {\n") == tables and "tdataloads {" in text and "bigint load_id PK" in text
