"""Serving the page: a temporary folder of its own, a bounded queue, and a launch that stays on this machine.

:func:`serve` makes a fresh temporary folder for uploads and results (Gradio's ``GRADIO_TEMP_DIR``) and removes
it when the server stops; turns Gradio's telemetry and version check off; uses system fonts only (no font
request leaves the machine); and never opens a public share link.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from audiox.ui.uploads import DEFAULT_UPLOAD_LIMITS, UploadLimits

log = logging.getLogger(__name__)

STOP_WAIT_S = 120.0  # how long a stopping server lets running generations finish
SYSTEM_FONTS = ("ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif")
SYSTEM_MONO_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace")


def offline_environment(temp_dir: Path) -> None:
    """Point Gradio at ``temp_dir`` and turn its network calls off; call before Gradio is imported.

    Args:
        temp_dir: the folder for uploads and results (Gradio's ``GRADIO_TEMP_DIR``).
    """
    os.environ["GRADIO_TEMP_DIR"] = str(temp_dir)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def serve(pipe: Any, *, host: str = "127.0.0.1", port: int = 7860, max_queue: int = 16, concurrency: int = 1,
          source: Any = None, examples: list[Path] = (), upload_limits: UploadLimits = DEFAULT_UPLOAD_LIMITS,
          block: bool = True) -> Any:
    """Start the page of ``pipe`` on ``host:port``; with ``block`` (the default) serve until stopped.

    Args:
        pipe: an :class:`audiox.pipeline.AudioXPipeline`.
        host: the address to listen on (127.0.0.1: this machine only); an IPv6 address bare or in brackets.
        port: TCP port.
        max_queue: requests that may wait; one more is refused (the page says the app is busy; an API client
            gets ``QueueError: Queue is full``).
        concurrency: generations that run at once (each holds its own activations in memory).
        source: the pipeline's :class:`audiox.pipeline.source.ModelSource` (None: read from ``pipe``).
        examples: example folders shown under the form.
        upload_limits: size and length bounds of uploads.
        block: False returns the launched ``gradio.Blocks`` (call ``close()``, then remove ``GRADIO_TEMP_DIR``).

    Returns:
        The ``gradio.Blocks`` when ``block`` is False, else None once the server has stopped.
    """
    from audiox.ui.address import ListenAddress, parse_host
    from audiox.ui.app import InFlight, build_app

    server_name = ListenAddress(parse_host(host, "host"), port).url_host  # Gradio builds its URLs from it
    temp_dir = Path(tempfile.mkdtemp(prefix="audiox-ui-"))
    offline_environment(temp_dir)
    demo, in_flight = None, InFlight()
    try:
        import gradio as gr

        demo = build_app(pipe, max_queue=max_queue, concurrency=concurrency, source=source,
                         examples=list(examples), upload_limits=upload_limits, in_flight=in_flight)
        theme = gr.themes.Default(font=list(SYSTEM_FONTS), font_mono=list(SYSTEM_MONO_FONTS))
        demo.launch(server_name=server_name, server_port=port, share=False, inbrowser=False, theme=theme,
                    allowed_paths=[str(p) for p in examples if p.is_dir()], max_file_size=upload_limits.max_bytes,
                    show_error=False, ssr_mode=False, enable_monitoring=False, mcp_server=False, pwa=False,
                    prevent_thread_lock=not block)
        if not block:
            return demo
    except BaseException:
        _stop(demo, in_flight, temp_dir)
        raise
    _stop(demo, in_flight, temp_dir)
    return None


def _stop(demo: Any, in_flight: Any, temp_dir: Path) -> None:
    """Close the server, let running generations end (bounded), remove the temporary folder."""
    if demo is not None:
        demo.close()
    if not in_flight.wait_idle(STOP_WAIT_S):
        log.warning("a generation still runs after %g s; stopping anyway", STOP_WAIT_S)
    shutil.rmtree(temp_dir, ignore_errors=True)
    log.info("server stopped; removed %s", temp_dir)
