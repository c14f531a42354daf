"""OpenMMO: a cloud-native MMORPG server in Python."""

__version__ = "0.1.0"
