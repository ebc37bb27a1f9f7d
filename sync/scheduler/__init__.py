"""The standalone scheduler: the process, its tick loop, and heartbeats."""
