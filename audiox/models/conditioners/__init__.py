"""models/conditioners."""
