"""URLs of the organisation app.

``urlpatterns`` are the administration pages under ``/org/`` (namespace ``org``);
``account_urlpatterns`` are sign-in and one's own account pages, mounted at the site root
without a namespace (``login``, ``logout``, ``password-change``, ``account-*``, ``two-factor-*``).
"""

from django.contrib.auth import views as auth_views
from django.urls import path

from .views import auth, branches, lockouts, roles, teams, two_factor, users

app_name = "org"

urlpatterns = [
    path("users/", users.user_list, name="user-list"),
    path("users/export.csv", users.user_export, name="user-export"),
    path("users/new/", users.user_create, name="user-create"),
    path("users/<int:pk>/", users.user_detail, name="user-detail"),
    path("users/<int:pk>/edit/", users.user_edit, name="user-edit"),
    path("users/<int:pk>/status/", users.user_status, name="user-status"),
    path("users/<int:pk>/roles/", users.user_roles, name="user-roles"),
    path("users/<int:pk>/password/", users.user_password, name="user-password"),
    path("users/<int:pk>/two-factor/reset/", users.user_two_factor_reset, name="user-two-factor-reset"),
    path("teams/", teams.team_list, name="team-list"),
    path("teams/export.csv", teams.team_export, name="team-export"),
    path("teams/new/", teams.team_create, name="team-create"),
    path("teams/<int:pk>/", teams.team_detail, name="team-detail"),
    path("teams/<int:pk>/edit/", teams.team_edit, name="team-edit"),
    path("branches/", branches.branch_list, name="branch-list"),
    path("branches/new/", branches.branch_create, name="branch-create"),
    path("branches/<int:pk>/edit/", branches.branch_edit, name="branch-edit"),
    path("roles/", roles.role_list, name="role-list"),
    path("roles/new/", roles.role_create, name="role-create"),
    path("roles/<int:pk>/edit/", roles.role_edit, name="role-edit"),
    path("lockouts/", lockouts.lockout_list, name="lockout-list"),
    path("lockouts/unlock/", lockouts.lockout_unlock, name="lockout-unlock"),
]

account_urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/password/", auth.password_change, name="password-change"),
    path("account/two-factor/", two_factor.account_two_factor, name="account-two-factor"),
    path("account/two-factor/setup/", two_factor.two_factor_setup, name="two-factor-setup"),
    path("account/two-factor/verify/", two_factor.two_factor_verify, name="two-factor-verify"),
    path(
        "account/two-factor/recovery-codes/",
        two_factor.account_recovery_codes,
        name="account-recovery-codes",
    ),
    path("account/two-factor/off/", two_factor.account_two_factor_disable, name="account-two-factor-off"),
    path("account/tokens/", auth.account_tokens, name="account-tokens"),
    path("account/tokens/<int:pk>/revoke/", auth.account_token_revoke, name="account-token-revoke"),
]
