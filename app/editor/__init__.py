"""The editor's parts: the document being edited and what shows and changes it.

:mod:`~app.editor.document` holds the photo, mask, undo, saved state and results (no widgets); the canvas
(:mod:`~app.editor.canvas` with its tools, layers and scroll bars) shows and paints it; the review, the job
runner, opening and saving, the actions and the tool bar are the window's helpers. :mod:`app.main_window`
puts them together.
"""
