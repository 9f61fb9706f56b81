"""What several organisation services share: the permissions that guard them."""

MANAGE_USERS = "org.manage_users"
MANAGE_ROLES = "org.manage_roles"
