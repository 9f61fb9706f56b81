"""Forms of the listing pages, one module per page family; import from the modules."""
