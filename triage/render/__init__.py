"""Output formats for an ``Analysis``: PyStack-compatible text (``text``) and JSON (``json``)."""
