"""The read API's snapshot: reads inside it see one moment of the journal while the daemon
goes on committing (what `status` needs to be one snapshot, not a sum of moments)."""

from deepart_batch.journal import Journal, open_reader
from support.jobs import toy_spec


def _job(journal, tmp_path, name):
    inp = journal.begin_claim(f"city/{name}.jpg", "city", str(tmp_path / f"{name}.jpg"))
    journal.finish_claim(inp, name)
    return journal.add_job(inp, name, "city", 0, "s", toy_spec(), str(tmp_path / f"{name}.o"),
                           str(tmp_path / f"{name}.json"))


def test_reads_in_a_snapshot_agree_while_the_daemon_commits(tmp_path):
    db = tmp_path / "journal.sqlite"
    journal = Journal(db)
    first = _job(journal, tmp_path, "a")
    reader = open_reader(db)
    try:
        with reader.snapshot():
            before = reader.counts()
            journal.mark_running(first, "cpu#0", "cpu")   # the daemon commits meanwhile
            _job(journal, tmp_path, "b")
            assert reader.counts() == before               # the same moment
            assert [j.state for j in reader.all_jobs()] == ["queued"]
        after = reader.counts()                            # a new moment outside it
        assert after["running"] == 1 and after["queued"] == 1, after
        assert not reader.db.in_transaction
    finally:
        reader.close()
        journal.close()
