"""One widget per module; each shows one part of `Stats` and is given it as an attribute."""
