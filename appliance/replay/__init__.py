"""Audit mode: replay a customer's past traffic through the real cache and router, offline.

`appliance replay LOG` answers "what would the appliance have saved on this traffic?" before
it touches production, and keeps answering "what if" questions (another threshold, other cut
points, another price) afterwards. The parts: `reader` (log formats, malformed lines),
`simulate` (cache + router + prices, in timestamp order), `sweep` (a grid of knobs),
`report` (the tables and JSON), `execute` (the tier-1 share sent to the local model for real)
and `cli` (the `replay` command). Nothing here is on the serving path.
"""
