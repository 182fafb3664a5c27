"""Operator tools on top of the API and the agent's plumbing: test hosts and the one-arm demo."""
