"""Translator backends: all run a look's generator on a batch of aligned crops."""
