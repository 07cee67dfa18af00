"""The counter's web page: server-rendered pages in the API process, over the same domain
services and rules as the API (the page is a client of them, never a second rule set).

``install(app)`` adds the pages and their assets to an API application; the composition root
calls it. Everything the page needs is served from here: counters may be cut off from the
internet.
"""
