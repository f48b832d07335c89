"""One module per admin view; dashboard.admin.init_admin lists them."""
