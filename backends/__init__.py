"""Hardware backends: which device and number formats a model runs on, and why.

- :mod:`backends.startup`: environment torch must see before it is imported (call it first thing).
- :mod:`backends.device`: what the machine has (CUDA, ROCm, MPS, Core ML, the CPU's bf16 support), the
  ranked automatic choice with a one-line reason, overrides, and the precision policy.
- :mod:`backends.memory`: free memory per device, the check before a run, recognising out-of-memory errors.
- :mod:`backends.mps`: finds operators a model uses that MPS lacks.
- :mod:`backends.coreml`: Core ML export (any OS) and runtime (macOS).

This package knows nothing about Moebius or Qt; models are handed to it, never imported. torch is imported
inside the functions that need it (or by the modules that cannot work without it), so importing the package,
:mod:`backends.startup`, :mod:`backends.device` or :mod:`backends.coreml` is cheap.
"""
