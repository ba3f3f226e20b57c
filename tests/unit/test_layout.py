"""The rules the package layout keeps (ARCHITECTURE.md), read off the source with `ast`.

Every import is counted, the lazy ones inside functions too, because a lazy import is still a
dependency: it only moves the cost.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "judgefree_hub"
CORE = ("recipe", "records", "sources", "strategies", "backends", "verifiers", "output",
        "registry", "errors", "seeding", "devices")
FAMILIES = ("sources", "strategies", "backends", "verifiers")
DOWNSTREAM = ("hub", "train", "ic", "loop")
# The one crossing between families: strategies plan rows and answers in the backends' contract.
CONTRACTS = {"strategies": ("judgefree_hub.backends.base",)}


def module_name(path: Path) -> str:
    if path.is_relative_to(ROOT / "builders"):
        parts = ["judgefree_hub", "builders", *path.relative_to(ROOT / "builders").with_suffix("").parts]
    else:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Absolute names of every module `path` imports, at any depth of the code."""
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            out.add(name)
            out.update(f"{name}.{alias.name}" for alias in node.names)  # `from . import llava`
    return out


def sources_of(*tops: str) -> list[Path]:
    files = []
    for top in tops:
        target = ROOT / top
        files += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return files


def stage_of(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


ALL = sources_of("judgefree_hub", "builders", "benchmarks")


def test_the_scan_sees_every_kind_of_import():
    names = imports(PKG / "backends" / "__init__.py")
    assert {"judgefree_hub.backends.llava", "judgefree_hub.backends.base"} <= names
    assert "judgefree_hub.demo" in imports(PKG / "loop.py")  # a lazy import inside a function


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_cli_and_python_m_entry_points_use_click_or_pick_exit_codes(path):
    text = path.read_text()
    entry_point = path.name == "__main__.py" or 'if __name__ == "__main__"' in text
    if path == PKG / "cli.py" or entry_point:
        return
    assert not any(n == "click" or n.startswith("click.") for n in imports(path))
    tree = ast.parse(text)
    exits = [n for n in ast.walk(tree)
             if isinstance(n, ast.Attribute) and n.attr in ("exit", "_exit") and getattr(n.value, "id", "") in ("sys", "os")
             or isinstance(n, ast.Name) and n.id == "SystemExit"]
    assert not exits, f"{path.name} chooses an exit code; raise a JfhubError and let cli.py map it"


@pytest.mark.parametrize("path", [p for p in sources_of("judgefree_hub") if stage_of(module_name(p)) in CORE],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_pipeline_core_never_imports_hub_train_ic_or_loop(path):
    bad = sorted(n for n in imports(path) if stage_of(n) in DOWNSTREAM and n.startswith("judgefree_hub."))
    assert not bad, f"{module_name(path)} imports {bad}"


@pytest.mark.parametrize("path", [p for p in sources_of("judgefree_hub") if stage_of(module_name(p)) in FAMILIES],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_extension_families_never_import_each_other(path):
    family = stage_of(module_name(path))
    allowed = CONTRACTS.get(family, ())
    bad = sorted(n for n in imports(path)
                 if n.startswith("judgefree_hub.") and stage_of(n) in FAMILIES and stage_of(n) != family
                 and not n.startswith(allowed or ("\0",)))
    assert not bad, f"{module_name(path)} imports {bad}"


@pytest.mark.parametrize("path", [p for p in ALL if not p.is_relative_to(PKG / "testing")],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_local_hub_server_is_for_tests_and_docs_only(path):
    assert not any(n.startswith("judgefree_hub.testing") for n in imports(path))


def backend_class_names() -> set[str]:
    names = set()
    for path in (PKG / "backends").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Backend") and node.name != "Backend":
                names.add(node.name)
    return names


def test_nothing_outside_backends_names_a_backend_class():
    classes = backend_class_names()
    assert {"HFVisionBackend", "LlavaBackend"} <= classes
    for path in ALL:
        if path.is_relative_to(PKG / "backends"):
            continue
        tree = ast.parse(path.read_text())
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        used |= {a.name.rsplit(".", 1)[-1] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not used & classes, f"{path.relative_to(ROOT)} names {used & classes}; use load_backend()"


def registries():
    from judgefree_hub.backends import BACKENDS
    from judgefree_hub.sources import SOURCES
    from judgefree_hub.strategies import STRATEGIES
    from judgefree_hub.verifiers import VERIFIERS

    return {"sources": SOURCES, "strategies": STRATEGIES, "backends": BACKENDS, "verifiers": VERIFIERS}


@pytest.mark.parametrize("family", FAMILIES)
def test_each_registered_class_has_its_fragment_next_to_it(family):
    import inspect

    from judgefree_hub.recipe.schema import fragments

    registry = registries()[family]
    assert registry.names() == sorted(fragments(family)), "fragment files and registry names differ"
    for name in registry.names():
        cls = registry.get(name)
        assert (Path(inspect.getfile(cls)).parent / f"{name}.schema.json").is_file()
        assert getattr(cls, "name", name) == name or family == "sources"


def test_importing_the_package_and_validating_load_no_model_code():
    heavy = ("torch", "transformers", "open_clip", "datasets", "trl", "peft", "webdataset", "matplotlib")
    code = (
        "import sys\n"
        "import judgefree_hub\n"
        "from judgefree_hub import load_pairs, to_trl, load_recipe\n"
        "from judgefree_hub.cli import main\n"
        "for recipe in ('recipes/demo.json', 'recipes/llava.json', 'recipes/ic-starter.json'):\n"
        "    sys.argv = ['jfhub', 'validate', recipe]\n"
        "    try:\n        main()\n    except SystemExit as e:\n        assert e.code in (0, None), e.code\n"
        f"print('HEAVY', [m for m in {heavy!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.count(": ok (") == 3
    assert "HEAVY []" in out.stdout


def test_every_data_file_of_the_package_is_declared_package_data():
    """An editable install reads the source tree; a wheel carries only declared package data,
    and the recipe schema is assembled from the fragments at run time."""
    import fnmatch
    import tomllib

    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = {pkg: ROOT / path for pkg, path in setup["package-dir"].items()}
    declared = setup["package-data"]
    missing, seen = [], set()
    for pkg in setup["packages"]:
        folder = dirs.get(pkg, ROOT / pkg.replace(".", "/"))
        for data in folder.rglob("*"):
            rel = data.relative_to(folder).as_posix()
            if data.suffix not in (".json", ".j2") or "/" in rel and (folder / rel.split("/")[0] / "__init__.py").exists():
                continue
            seen.add(f"{pkg}: {rel}")
            if not any(fnmatch.fnmatch(rel, pattern) for pattern in declared.get(pkg, [])):
                missing.append(f"{pkg}: {rel}")
    # the scan reaches the data files the package reads at run time (in a sub-folder, in a
    # package mapped to another folder, fragments of each family)
    assert {"judgefree_hub.recipe: schema/recipe.schema.json",
            "judgefree_hub.cards: preference.md.j2",
            "judgefree_hub.backends: llava.schema.json",
            "judgefree_hub.ic: objects.json"} <= seen
    assert not missing


def test_no_two_test_files_share_a_name():
    """pytest imports test modules by their file name (rootdir conftest, no packages): two
    tests/*/test_x.py files stop collection of the whole suite."""
    from collections import Counter

    names = Counter(p.name for p in (ROOT / "tests").rglob("test_*.py"))
    assert [n for n, k in names.items() if k > 1] == []
