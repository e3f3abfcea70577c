"""Photos and masks as files: reading them without losing anything, writing results back the same way."""
