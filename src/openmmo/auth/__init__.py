"""Credentials: access tokens and join tickets (JWT), password hashing, name rules.

Kind: **pure** — no asyncio, no sockets; time comes from an injected clock. Password hashing
is CPU-bound and the gateway runs it in worker threads.
"""
