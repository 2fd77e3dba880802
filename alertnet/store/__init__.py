"""Redis adapters: the only modules that know key layouts."""
