"""Reads for listings, one module per subject; import from the modules."""
