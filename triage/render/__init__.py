"""Output for people: PyStack-compatible text (``text``), colours and escaping (``style``)."""
