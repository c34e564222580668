"""Wiring for E-Team Inbox: settings, the command line, the pipeline runner, the demo data."""
