"""Forms of the customer pages, one module per page family; import from the modules."""
