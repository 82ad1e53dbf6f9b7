"""Aggregates over spans, traces and conversations, computed by the database."""
