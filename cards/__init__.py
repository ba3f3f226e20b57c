"""Dataset-card templates (Jinja2), installed as judgefree_hub.cards."""
