"""The zone server: authoritative real-time world behind a WebSocket.

Kind: **process**. :mod:`transport` adapts picows connections; :mod:`sessions` owns the
connections, their phases and the inbox (:mod:`session` is one connection); :mod:`play` owns
the world and the game, and is the only part that changes the world, in the tick;
:mod:`checkpoint` saves characters; :mod:`replicate` sends per-tick snapshots;
:mod:`runtime` composes them and runs the tick; :mod:`server` owns the process lifespan.
"""
