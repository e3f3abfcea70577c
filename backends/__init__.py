"""Hardware backends: which device and number format a model runs on, and why.

This package knows nothing about Moebius or Qt; models are handed to it, never imported. torch is imported
inside the functions that need it, so importing this package is cheap.
"""
