"""``python -m arkitekt.cli``."""

from . import main

main()
