"""Helpers of the native-stack integration tests (tests/native): interpreters, processes,
builds of the test extensions, and running/parsing triage and PyStack."""
