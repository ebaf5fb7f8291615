"""Shim until the members branch commits its services package __init__ (take theirs on merge)."""
from members.services.sessions import member_session_start  # noqa: F401
