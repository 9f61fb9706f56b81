from django.contrib.auth import views as auth_views
from django.urls import path

from . import views_auth, views_two_factor

urlpatterns = [
    path("login/", views_auth.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/password/", views_auth.password_change, name="password-change"),
    path("account/two-factor/", views_two_factor.account_two_factor, name="account-two-factor"),
    path("account/two-factor/setup/", views_two_factor.two_factor_setup, name="two-factor-setup"),
    path("account/two-factor/verify/", views_two_factor.two_factor_verify, name="two-factor-verify"),
    path(
        "account/two-factor/recovery-codes/",
        views_two_factor.account_recovery_codes,
        name="account-recovery-codes",
    ),
    path("account/two-factor/off/", views_two_factor.account_two_factor_disable, name="account-two-factor-off"),
    path("account/tokens/", views_auth.account_tokens, name="account-tokens"),
    path("account/tokens/<int:pk>/revoke/", views_auth.account_token_revoke, name="account-token-revoke"),
]
