"""Ingestion: OpenTelemetry spans and bulk items from agents, written in batches."""
