"""A minimal SDK endpoint built on restate_core (see sdk.py) and example services (services.py)."""
