"""Complexity routing: an ONNX head scores each request from its embedding (`classifier`), and
a policy maps the score to a tier with the operator's cut points or traffic shares (`policy`).
`metrics` measures routers (APGR/CPT); `cli` exposes scoring and evaluation to the shell."""
