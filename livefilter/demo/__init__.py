"""The offline demo: a moving clip synthesised from a real group photo that ships with a dependency."""
