"""Targets and the clients that own their connections (PostgreSQL, SFTP, local files)."""
