"""Whole `bot run` processes under stress: SIGKILL and restart, replicas, bursts."""
