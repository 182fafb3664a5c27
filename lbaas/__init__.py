"""lbaas: a standalone Load-Balancing-as-a-Service speaking Octavia's v2 API."""

__version__ = "0.1.0"
__all__ = ["__version__"]
