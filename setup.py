"""Packages by discovery, not by a hand list, so a new subpackage of transpile/ cannot be left out of the wheel.

`templates/` and `schemas/` sit at the top of the repository and ship as the data packages
`transpile.templates` and `transpile.schemas` (mapped in pyproject.toml's package-dir). Everything else is in
pyproject.toml.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["transpile", "transpile.*"]), "transpile.templates", "transpile.schemas"])
