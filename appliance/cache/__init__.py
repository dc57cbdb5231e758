"""Semantic cache: exact tier, hnswlib neighbours within a scope, and guards against false hits.

Entry points: `scope.build_key` (what a request is keyed on), `policy.is_cacheable_request` /
`policy.is_cacheable_response` (what may be cached), `semantic.SemanticCache` (lookup, store,
invalidate). Calibration: models/cache/calibrate.py; speed: bench/cache_index.py.
"""
