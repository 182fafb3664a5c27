"""Persistence: SQLAlchemy 2 rows whose column names are the API field names, sessions, CAS and listing."""
