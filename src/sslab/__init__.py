"""sslab: train, freeze and compare image encoders (supervised, generative, self-supervised)."""

__version__ = "0.1.0"
