"""Runs of the Agents API: the status machine, run steps, and their execution as durable jobs."""
