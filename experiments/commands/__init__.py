"""The commands of ``difficult-customer``: each a config dataclass and a short ``main``."""
