from django.contrib.auth import views as auth_views
from django.urls import path

from . import views_auth

urlpatterns = [
    path("login/", views_auth.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/password/", views_auth.password_change, name="password-change"),
    path("account/tokens/", views_auth.account_tokens, name="account-tokens"),
    path("account/tokens/<int:pk>/revoke/", views_auth.account_token_revoke, name="account-token-revoke"),
]
