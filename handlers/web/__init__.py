"""The web pages: one more adapter over the use cases, served by the same aiohttp server.

Server-rendered HTML (Jinja2 through aiohttp-jinja2) with the texts of the gettext
catalogs, no JavaScript, one small stylesheet.
"""
