"""The analytics web function: the read-only dashboard and the tracked-link redirects."""
