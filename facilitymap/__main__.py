"""`python -m facilitymap ...` runs the command line."""
from .cli import main

main(prog_name="facilitymap")
