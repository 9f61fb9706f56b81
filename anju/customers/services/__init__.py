"""Writes for customers, split by sub-domain: customers, ownership, reception, followups."""
