"""Sample crashing programs of `triage demo` and the machinery that turns them into cores."""
