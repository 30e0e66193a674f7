"""`triage collect`: the kernel's core_pattern pipe handler, and its installation.

Nothing here imports SQLAlchemy, watchdog or the analyzer: the kernel waits for the handler,
and the dying process's memory stays pinned until it exits.
"""
