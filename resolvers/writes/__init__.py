"""Mutations: each function runs one transaction and returns the rows it changed."""
