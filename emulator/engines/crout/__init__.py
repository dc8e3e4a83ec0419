"""The CRout service (call routing): :mod:`emulator.engines.crout.engine`."""
