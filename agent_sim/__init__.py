"""A simulated agent: a client of Threadline's public GraphQL API, nothing more.

`python main.py simulate` runs it against a running server (see agent_sim.run).
"""
