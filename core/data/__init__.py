"""Simulators, data-set readers, preprocessing and transforms."""
