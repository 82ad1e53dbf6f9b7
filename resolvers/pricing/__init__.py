"""Prices of model calls and the costs written with them.

table.py: a price entry, the built-in table (prices.json) and the operator's PRICES_FILE;
matching.py: which entry a model name means; prices.py: the table in effect (owners'
rows over the file over the built-in table); charges.py: the cost a write stores.
"""
