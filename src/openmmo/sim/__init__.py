"""The authoritative simulation of one zone: entities, movement rules, combat, NPCs.

Kind: **pure** — no asyncio, no sockets, no wall clock. Time arrives as ``now`` arguments, so a
test drives a world with plain numbers. The zone process applies client actions with the
functions here and calls :func:`openmmo.sim.step.advance` once per tick.
"""
