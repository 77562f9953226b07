"""egohmr: probabilistic human mesh recovery in 3D scenes from egocentric views (EgoHMR, ICCV 2023).

Importing the package loads only torch and numpy; optional dependencies are imported where used.
"""

__version__ = "0.1.0"
