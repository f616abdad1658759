"""The one exception type that the command line turns into a one-line message."""


class CgapError(Exception):
    """A problem with the user's input or environment, reported without a traceback.

    The message must name what is wrong (file, layer, op or option) in one line.
    """
