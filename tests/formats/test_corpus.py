"""Issue 27: every real spreadsheet of the shared corpus (``../shared/spreadsheets/files``:
files from Excel for Windows and Mac, LibreOffice, Google Sheets, Numbers, WPS, Gnumeric and
several libraries, with a reference CSV per sheet) converts through ConvertFeedFile's path to
its reference, cell for cell, or is refused with a BadInputError naming the file and sheet.
The files are never copied into the repository: a clone without the folder skips, saying so."""
import json

import pytest

from tests.spreadsheet_corpus import CORPUS, check_file, compare

INDEX = CORPUS / "_reference" / "INDEX.json"
ENTRIES = json.loads(INDEX.read_text()) if INDEX.exists() else {}


@pytest.mark.skipif(not ENTRIES, reason=f"the real-spreadsheet corpus is not at {CORPUS} (it lives beside the "
                                        "repository, never in it; ETL_SPREADSHEET_CORPUS names another place)")
@pytest.mark.parametrize("name", sorted(ENTRIES) or ["none"])
def test_a_real_spreadsheet_converts_to_its_reference_or_is_refused(name):
    outcome = check_file(CORPUS, name, ENTRIES[name])
    assert outcome.ok, outcome.said


def test_the_comparison_names_the_first_cell_that_differs():
    reference = [["Id", "When"], ["007", "2026-12-07"], [""]]
    assert compare([["Id", "When", ""], ["007", "2026-12-07"]], reference, set()) is None
    assert compare([["Id", "When"], ["7", "2026-12-07"]], reference, set()) == \
        "row 2, column 1: ours '7', reference '007'"
    assert compare([["Id", "When"], ["007", "2026-12-07 00:00:00"]], reference, set()).startswith("row 2, column 2")
    assert compare([["Id", "When"], ["007", "x"]], reference, {1}) is None  # a lenient row
    assert compare([["1.0"], ["TRUE"]], [["1"], ["true"]], set()) is None  # the same number, the same boolean
