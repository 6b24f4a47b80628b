"""Imported by the fork server of isolate.py: loads and warms up what every child uses."""

from hostile.cases import warm_up

warm_up()
