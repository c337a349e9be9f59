"""The Azure AI Agents REST API's resources: records, their stores, and the runs that execute them.

The HTTP routes live in :mod:`agentdown.server.agents_api`; everything here works
without a server, so ``agentdown worker`` executes runs with the same code.
"""
