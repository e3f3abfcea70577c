"""Moebius Studio core: the Qt-free part of the application.

Everything that turns a photo and a mask into a filled photo lives here: the Moebius model, the denoising
pipeline, image I/O, compositing, the classic fallback engine, settings and the command line. Heavy modules
(torch, OpenCV, safetensors) are imported by the modules that need them, never by this package on import, so
that the GUI can start before torch is loaded.
"""

__version__ = "0.1.0"
