"""HTTP edge: Litestar controllers, wire types and the one error renderer."""
