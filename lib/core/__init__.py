"""The floor everything stands on: errors, settings and profiles, the result store."""
