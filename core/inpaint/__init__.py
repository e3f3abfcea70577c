"""Inpainting a photo of any size: engines, region planning, the Moebius pipeline, compositing, loading.

:mod:`core.inpaint.engine` builds an engine (:mod:`~core.inpaint.moebius` or :mod:`~core.inpaint.classic`);
an engine plans windows (:mod:`~core.inpaint.plan`), runs each through the model's frame
(:mod:`~core.inpaint.regions`, :mod:`~core.inpaint.pipeline`) and blends the fill back
(:mod:`~core.inpaint.composite`).
"""
