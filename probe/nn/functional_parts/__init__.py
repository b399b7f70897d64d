"""The families of ``probe.nn.functional``: each module lists its public names in ``__all__``."""
