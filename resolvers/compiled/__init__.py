"""The compiled read path: a query's whole result built as JSON by PostgreSQL in one
statement (json_build_object / json_agg), for the shapes the normal path spends most
of its time on. It returns exactly what the normal path would, or is not taken.

It is asked by one Strawberry extension, schema/compiled_reads.py, and knows the GraphQL
types only through graphql-core objects and binding.SchemaBinding; it never imports
`schema`.

- statements.py: compiled_data, the entry point: a plan from the cache, run as one statement
- driver.py: a plan's statement compiled once, run on a pooled connection's asyncpg
- cache.py: ReadPlans, the plans of one schema (LRU), and what a plan is keyed by
- planner.py: Planner walks an operation's fields into a ReadPlan
- fields.py: FIELDS, the registry of fields with resolvers it reproduces (and their arguments)
- render.py: scalar fields copied from columns, written as GraphQL serializes them
- variables.py: which variables are per-request parameters of a plan
- binding.py: SchemaBinding, what the planner asks of the GraphQL layer
- rows.py: the rows each level reads (the loaders' tables, conditions and orders)
- sql.py: PostgreSQL JSON expressions, and Unsupported
"""
