"""A new vendor of a known kind, with its own rules, is a vendors.toml table and an SFTP
section: this test adds one from tests/fixtures/vendors/acme.toml and an [sftp_acme] section,
pushes it through the generic VendorPush, reruns it (no-op), then tightens one of its rules in
the TOML and sees the next push refused and mailed. No Python is written for the vendor, and
the stack gives it an SFTP account of its own from the registry (stack.sftp_accounts)."""
import datetime as dt

import luigi

import stack
from ops.validate import check
from pipelines.base import ROOT
from pipelines.vendors import VendorPush, export_dir, vendor
from targets import clock
from tests.ledger import ledger_rows

DAY = dt.date(2026, 11, 24)


def test_a_new_vendor_from_a_fixture_file(acme_vendor, stack_var, pg_settings):
    registry, acme, remote = acme_vendor
    # the stack took the vendor from the registry: an account of its own, with the push's folder
    assert stack.sftp_accounts(registry)["acme_rostering"] == ("/upload", ["upload", f"upload/{remote.name}"])
    assert remote.is_dir()
    # ... and the 05:00 slot pushes it (its default slot = "SftpOperations"): cron and the demo run that slot
    from pipelines.slots import SftpOperations
    assert "acme" in [getattr(t, "vendor", None) for t in SftpOperations(date=DAY).requires()]

    assert luigi.build([VendorPush(vendor="acme", date=DAY)], local_scheduler=True)
    assert sorted(p.name for p in remote.iterdir()) == ["acme_schools.csv", "acme_students.csv"]
    students = (remote / "acme_students.csv").read_bytes()
    assert students.startswith(b'"Student_id","School_id","Grade","DOB","Student_email"\r\n')
    ledger = ledger_rows(pg_settings, "item, status, rows", job="push_acme")
    assert sorted(r[:2] for r in ledger) == [("acme_schools.csv", "succeeded"), ("acme_students.csv", "succeeded")]
    assert luigi.build([VendorPush(vendor="acme", date=DAY)], local_scheduler=True)
    assert ledger_rows(pg_settings, "item, status, rows", job="push_acme") == ledger
    assert check(vendor("acme"), export_dir(DAY, "acme")) == ([], [])  # our own _checked.json is not listed

    # Acme stops accepting Kindergarten: one line of TOML, and the next push is refused.
    stricter = acme.replace('["PreKindergarten", "Kindergarten", "1"', '["PreKindergarten", "1"')
    assert stricter != acme
    registry.write_text((ROOT / "vendors.toml").read_text() + "\n" + stricter)
    before = set((stack_var / "mail").glob("*.eml"))
    nxt = DAY + dt.timedelta(days=1)
    clock.set_now(dt.datetime(2026, 11, 25, 5, 0, tzinfo=dt.timezone(dt.timedelta(hours=-6))))  # the next morning
    assert not luigi.build([VendorPush(vendor="acme", date=nxt)], local_scheduler=True)
    mails = [f.read_text() for f in set((stack_var / "mail").glob("*.eml")) - before]
    refusal = [m for m in mails if "REFUSED: acme push for 2026-11-25" in m]
    assert len(refusal) == 1 and "acme-rostering@district.example" in refusal[0]
    assert "column Grade: 'Kindergarten' is not an allowed value" in refusal[0].replace("=\n", "")
    assert ledger_rows(pg_settings, "item, status, rows", job="push_acme") == ledger
