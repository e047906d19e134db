"""docs/bad_input.md is what tests/bad_input_table.py renders now: the table
of every bad input tried and the error it gets stays true."""
import pathlib

import pytest

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "bad_input.md"


def test_the_bad_input_page_is_current():
    pytest.importorskip("sklearn")
    if not DOC.exists():
        pytest.skip("docs/ is not here (not a source tree)")
    import bad_input_table
    assert DOC.read_text() == bad_input_table.render(), \
        "regenerate: python tests/bad_input_table.py > docs/bad_input.md"
