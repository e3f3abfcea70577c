"""What every part of the core shares: error types, the cancel token, progress events, paths, careful file writes.

The lowest layer of ``core``: it imports nothing else from ``core``.
"""
