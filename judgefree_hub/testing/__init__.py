"""Test helpers that need no network: `judgefree_hub.testing.hub` is a local Hub-compatible
server (`LocalHub`). Not imported here, so `python -m judgefree_hub.testing.hub` runs cleanly."""
