"""Support code of the integration suite: interpreters, scenario cores, tools and parsers."""
