"""The web page of ``audiox ui``: every task in one form, served by Gradio on this machine.

- :mod:`audiox.ui.app`: :func:`build_app(pipe) <audiox.ui.app.build_app>`, the page around a pipeline
- :mod:`audiox.ui.server`: :func:`serve`, the queue, the temporary folder and the launch (never shared)
- :mod:`audiox.ui.generate`: one request, checked and written like ``audiox generate`` (no Gradio)
- :mod:`audiox.ui.uploads`: checks and removal of uploads; :mod:`audiox.ui.ranges`: inpaint ranges drawn by clicks

Nothing here imports Gradio or loads a model at import time.
"""
