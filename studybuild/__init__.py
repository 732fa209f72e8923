"""studybuild: raw clinical trial data to a regulator-ready CDISC package.

Importing this package is cheap: heavy libraries (pandas, great-expectations, matplotlib,
lifelines) are imported by the modules that use them.
"""

__version__ = "0.1.0"
