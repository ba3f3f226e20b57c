"""Dataset builders (registry BUILDERS): one module per dataset kind, each a short script of
the pipeline recipe -> sources -> generation -> verification -> shards -> card."""

from judgefree_hub.registry import Registry

BUILDERS: Registry = Registry("builder")

from . import ic, preference  # noqa: E402,F401  (register the builders)

__all__ = ["BUILDERS"]
