"""``python -m facilitymap``: the command line."""
from .cli import main

main()
