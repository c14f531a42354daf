"""The real-time protocol: wire names and codes, message validation, both encodings.

Kind: **pure** — no asyncio, no sockets, no clock. Bytes and dicts in, values and bytes out.
The reference for third-party clients is ``docs/reference/protocol.md``.
"""
