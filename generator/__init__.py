"""sslbind: reviewed, recorded, reversible HTTP.sys SSL binding changes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sslbind")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
