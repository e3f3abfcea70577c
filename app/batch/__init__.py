"""The Batch window: a folder of photos with their masks, paired, inpainted in one go, reviewed and summed up.

:mod:`app.batch.window` is the window; :mod:`~app.batch.inputs` decides what a drop or a choice of folders
means, :mod:`~app.batch.table` is the pairing table, :mod:`~app.batch.run_view` the progress and the run
buttons, :mod:`~app.batch.review_grid` the before/after thumbnails and :mod:`~app.batch.summary` the summary.
"""
