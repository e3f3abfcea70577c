"""The Find Sensor Dust window: find dust across a folder, review the spots, write masks, hand them to Batch."""

from app.dust.window import DustWindow

__all__ = ["DustWindow"]
