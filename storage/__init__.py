"""Persistence: tables, engine and sessions, encryption of secrets, queries."""
