"""From spool files to analyzed crashes: intake, the worker pool, the watcher."""
