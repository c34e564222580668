"""The Streamlit dashboard: thin pages (`dashboard/app.py`) over plain query functions.

The queries live in `dashboard.queries` and take a SQLAlchemy session, so they are tested and
reused without Streamlit; the app only lays out what they return.
"""
