from pathlib import Path

from openmmo.config import reference_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "reference" / "config.md"


def test_config_reference_lists_every_setting_as_the_code_defines_it():
    assert reference_markdown() in DOC.read_text(), "run `make docs` to regenerate"


def test_the_checked_in_openapi_document_is_current():
    import json

    from openmmo.gateway.openapi import openapi_document

    checked_in = json.loads((DOC.parent / "openapi.json").read_text())
    assert checked_in == openapi_document(), "run `make docs` to regenerate"
