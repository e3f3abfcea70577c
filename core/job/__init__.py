"""What a job is: the settings a user can choose (declared once), the request an engine is given, the engines.

Plain data with no heavy imports, read by the command line, the GUI and the batch alike.
"""
