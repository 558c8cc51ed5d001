"""The version of dvnlib: written here only (pyproject.toml reads it; ``dvnlib.__version__`` hands it on)."""
__version__ = "0.1.0"
