"""Plans and subscriptions. Only modules in this package may import `stripe`."""
