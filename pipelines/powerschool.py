"""PowerSchool import (PS_imports): the Google-address file shaped for PowerSchool's import
(view roster_files.PS_google_addresses, from the Clever IDM export) → the local PowerSchool
SFTP folder, validated and shrink-guarded like any vendor push (vendors.toml [powerschool]).

Cron (07:05, in SftpOperationsLocal): `./run.sh luigi --module pipelines.powerschool PowerSchoolImport`.
"""
import luigi

from pipelines.vendors import VendorPush


class PowerSchoolImport(VendorPush):
    """The day's PowerSchool import file in the PS_imports folder."""

    vendor = luigi.Parameter(default="powerschool")
