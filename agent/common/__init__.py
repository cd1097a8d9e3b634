"""Small helpers shared by every part: naming, validation, files."""
