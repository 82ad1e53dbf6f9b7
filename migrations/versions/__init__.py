"""Alembic revisions. A package so that the wheel ships every revision (Alembic skips
this file: it loads revisions by path, not by import)."""
