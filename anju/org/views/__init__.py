"""HTML pages of the organisation: users, teams, branches, roles and login lockouts."""
