"""`python -m eteam` runs the command line."""

from eteam.cli import app

app()
