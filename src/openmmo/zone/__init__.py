"""The zone server: authoritative real-time world behind a WebSocket.

Kind: **process**. :mod:`transport` adapts picows connections, :mod:`session` holds one
connection's state, :mod:`runtime` owns the world and dispatches messages, :mod:`replicate`
sends per-tick snapshots, :mod:`checkpoint` saves characters, :mod:`server` owns the
process lifespan.
"""
