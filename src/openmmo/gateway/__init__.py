"""The gateway: accounts, tokens, characters, the zone directory and allocation over HTTP.

Kind: **process**. :mod:`service` holds the core functions, :mod:`routes` maps HTTP onto them,
:mod:`app` assembles the Starlette application, :mod:`server` owns the process lifespan.
"""
