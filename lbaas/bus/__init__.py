"""The bus: load balancer ids from the API (and controller) to the agents that run them. Ids only.

A message says "look at these LBs now"; the agent re-reads desired state from the API. So a lost,
duplicated or reordered message costs latency, never correctness: every agent's periodic resync
reads the full assignment anyway, and an agent resyncs each time it (re)connects to the broker.
"""
