"""Backends: one small protocol (`base.Backend`) and the things it talks to."""
