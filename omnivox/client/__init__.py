"""Clients of omnivox's own API (stdlib HTTP only: they run wherever Python does)."""
