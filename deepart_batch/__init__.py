"""deepart-batch: a hot-folder render daemon for Gatys neural style transfer."""

__version__ = "0.1.0"
