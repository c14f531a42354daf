"""Capacity ahead of demand and what it costs: ``openmmo predict-scale`` (forecast players
per zone from Prometheus, recommend channels, act on the zone autoscalers) and
``openmmo cost-report`` (cost per player-hour, idle capacity, what prediction saved).

Kind: operator tool. It reads Prometheus and talks to the Kubernetes API; no game process
imports it.
"""
