"""Default limits of one analysis (no imports: the CLI parser reads them at start-up)."""

DEFAULT_TIME_LIMIT = 120.0  # seconds per core; a normal analysis takes well under one
DEFAULT_MEMORY_LIMIT_MB = 2048  # beyond the core's own size (the analyzer maps the core)
