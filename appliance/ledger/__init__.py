"""What each request cost, what it would have cost on the frontier tier, and who spent it.

`prices` turns tokens into dollars, `db` keeps one durable row per backend attempt in SQLite,
`aggregates` answers "how much today / this month / per client / per tier" with SQL, and
`report` and `cli` show that to an operator. Nothing here talks HTTP or knows the pipeline.
"""
