"""The compiled read path: a query's whole result built as JSON by PostgreSQL in one
statement (json_build_object / json_agg), for the shapes the normal path spends most
of its time on. It returns exactly what the normal path would, or is not taken."""
