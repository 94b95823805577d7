"""Integrations with other frameworks, each an optional extra imported only on request.

- :mod:`arkitekt.contrib.fastapi`: one arkitekt App for the whole life of a FastAPI
  application (``pip install "arkitekt[fastapi]"``).
"""
