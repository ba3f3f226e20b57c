import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_validate_and_help_do_not_import_torch():
    code = (
        "import sys\n"
        "from judgefree_hub.cli import main\n"
        "sys.argv = ['jfhub', 'validate', 'recipes/smoke.json']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "heavy = [m for m in ('torch', 'transformers', 'open_clip', 'datasets') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "recipes/smoke.json: ok (jfhub-smoke v0.1.0" in out.stdout
    assert "HEAVY []" in out.stdout


def test_schema_doc_json_is_the_assembled_schema_and_validates_the_shipped_recipes():
    import json

    import jsonschema

    out = subprocess.run([sys.executable, "-m", "judgefree_hub.cli", "schema-doc", "--json"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    schema = json.loads(out.stdout)
    assert set(schema["$defs"]) == {"source", "strategy", "verifier"}
    for name in ("demo.json", "smoke.json", "llava.json", "ic-starter.json"):
        jsonschema.Draft202012Validator(schema).validate(json.loads((ROOT / "recipes" / name).read_text()))
    bad = json.loads((ROOT / "recipes" / "smoke.json").read_text())
    bad["verifier"]["name"] = "clip"
    assert not jsonschema.Draft202012Validator(schema).is_valid(bad)


def test_an_output_folder_that_cannot_be_one_is_one_line_and_exit_1(tmp_path):
    """--out is a file, or under one: refused before any model loads, with the path named."""
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "below"):
        proc = subprocess.run([sys.executable, "-m", "judgefree_hub.cli", "build", "recipes/smoke.json", "--out", str(out),
                               "--no-progress"], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: {tmp_path / 'file'}") and "Not a directory" in lines[0]
