"""Sentence embeddings for the cache and the router: one vector per request, computed once."""
