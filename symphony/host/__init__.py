"""Helpers for backends whose processes run on this host (local, tmux): ports, logs, process trees."""
