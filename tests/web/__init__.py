"""The browser tests of the web page (a package: its conftest is ``web.conftest``, never confused with
tests/conftest.py, which other test modules import as ``conftest``)."""
