"""AlertNet: a statewide school-safety alert network and messaging hub."""

__version__ = "0.1.0"
