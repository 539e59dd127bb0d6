"""Shipped model packages and the code that trains them."""
