"""Model weights on disk: what can be installed, where it lives, download, import, verification, conversion.

:mod:`core.weights.registry` knows the released variants and finds installed ones;
:mod:`core.weights.install` checks a checkpoint and places it in the models folder; :mod:`core.weights.store`
verifies, removes and prepares installed ones for loading; :mod:`core.weights.download` (through
:mod:`core.weights.hub`, the only network access of the program) and :mod:`core.weights.importer` (all or
nothing, undone by :mod:`core.weights.undo` when it fails midway) bring them in.
"""
