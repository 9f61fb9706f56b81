"""HTML pages of the organisation: users, teams, branches, roles and login lockouts; sign-in and
one's own account (``auth``) and two-factor sign-in (``two_factor``)."""
