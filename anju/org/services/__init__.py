"""Writes for the organisation, split by sub-domain.

``branches``, ``teams``, ``users`` and ``roles`` (R1.1.1–R1.1.3), ``auth`` (personal API tokens,
login-lockout release) and ``two_factor`` (two-factor sign-in). Import the module you need.
"""
