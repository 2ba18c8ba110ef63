"""One module per resource; HTML and /api routes call the same hub services."""
