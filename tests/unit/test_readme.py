from pathlib import Path

from judgefree_hub.recipe.doc import fields_table, with_table

ROOT = Path(__file__).resolve().parents[2]


def test_readme_field_table_matches_the_schema():
    readme = (ROOT / "README.md").read_text()
    assert with_table(readme) == readme, "run: jfhub schema-doc --update README.md"
    assert fields_table() in readme


def test_every_schema_field_has_a_description():
    table = fields_table()
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    assert len(rows) > 40
    assert all(row[-1].strip(" |") for row in rows), [r[0] for r in rows if not r[-1].strip(" |")]


def test_readme_quickstart_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pytest" in ci
    assert ".venv/bin/python -m pytest" in (ROOT / "README.md").read_text()
