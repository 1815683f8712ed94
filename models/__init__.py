"""Shipped model specifications (TOML), installed as the data package ``bayesseg.specs``."""
