"""gradfit's version: the one place it is written. pyproject.toml reads it for
the distribution's metadata ([tool.setuptools.dynamic], without importing
gradfit); gradfit.__version__ and `gradfit --version` show it. To release,
change it here and tag the commit v<version> (.github/workflows/wheels.yml
checks that the tag and this agree before publishing)."""
__version__ = "0.1.0"
