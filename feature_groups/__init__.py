"""Feature groups: one module per group (a spec + pure transforms), discovered by `featurestore.registry`."""
