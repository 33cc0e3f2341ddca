"""Kernel patch development and test workbench for the SPLICE_F_STABLE series."""

__version__ = "0.1.0"
