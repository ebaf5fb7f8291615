"""ekr's database backend: django-tenants' PostgreSQL backend that sends `SET search_path` only when needed."""
