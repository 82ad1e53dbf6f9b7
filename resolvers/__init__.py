"""Query and mutation logic: the data-access layer (the only place that builds SQL),
relations and DataLoaders."""
