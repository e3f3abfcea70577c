"""Model weights on disk: what can be installed, where it lives, download, import, verification, conversion.

:mod:`core.weights.registry` knows the released variants and finds installed ones;
:mod:`core.weights.store` installs, verifies and prepares them for loading; :mod:`core.weights.download`
(through :mod:`core.weights.hub`, the only network access of the program) and :mod:`core.weights.importer`
bring them in.
"""
