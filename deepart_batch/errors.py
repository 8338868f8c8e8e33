"""One exception family, so every entry point can turn bad input into one clear line."""


class DeepartError(Exception):
    """A user-facing error: the message names the file, what is wrong and what to do."""


class ImageError(DeepartError):
    pass


class ParamsError(DeepartError):
    pass


class WeightsError(DeepartError):
    pass


class ConfigError(DeepartError):
    pass


class MaskError(ImageError):
    """A region mask that cannot be used with its photo (not an image, wrong shape, a
    colour no region maps)."""
