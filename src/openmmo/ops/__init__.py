"""What every service exposes to operators: health, readiness, metrics, version.

Kind: **process** helpers shared by the gateway and zone servers.
"""
