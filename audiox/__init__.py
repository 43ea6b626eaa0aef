"""audiox: a clean-room PyTorch implementation of AudioX (anything-to-audio diffusion transformer).

Importing this package is cheap: models, weights and heavy libraries load only when used.
"""

from audiox.errors import AudioXError, CheckpointError, ConfigError, InputError, MediaError

__version__ = "0.1.0"

__all__ = ["AudioXError", "CheckpointError", "ConfigError", "InputError", "MediaError", "__version__"]
