"""Replication: who sees what (interest grid) and the per-tick snapshot parts.

Kind: **pure** — joins the simulation (:mod:`openmmo.sim`) to the wire format
(:mod:`openmmo.protocol.snapshot`); no asyncio, no sockets, no clock.
"""
