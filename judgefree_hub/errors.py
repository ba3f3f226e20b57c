"""The project's exceptions: every message says what is wrong, where, and what to do.

Each class subclasses the stdlib type callers already catch (ValueError, OSError) so library
users need not know ours; the CLI maps them to exit codes in one place.
"""

from __future__ import annotations


class JfhubError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(JfhubError, ValueError):
    """One or more problems in a JSON config (a recipe, a train config); each problem is
    (file, JSON path, message)."""

    def __init__(self, file: str, problems: list[tuple[str, str]]):
        self.file = file
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.file}: {path}: {msg}" for path, msg in self.problems]


class RecipeError(ConfigError):
    """A recipe that does not validate."""


class SourceError(JfhubError, OSError):
    """A source (folder, manifest, dataset) cannot be read as a whole."""


class DatasetLayoutError(JfhubError, ValueError):
    """A preference dataset whose columns fit no known layout, or a `--columns` mapping that is
    malformed or names columns the dataset lacks."""


class ModelLoadError(JfhubError, OSError):
    """A model or verifier cannot be loaded from the id, folder or revision given."""


class BuildError(JfhubError, RuntimeError):
    """A build cannot go on (e.g. the output folder holds another recipe's version)."""


class PushError(JfhubError, RuntimeError):
    """Publishing to the Hub failed or was refused. At most an untagged commit is left (the
    message names it), and running the same push again completes it."""
