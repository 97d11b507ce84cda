"""The library's exception types: every message names the problem and the fix in one line."""


class CnfrlError(Exception):
    """A problem the user can act on; the CLI prints its message without a traceback."""


class DatasetError(CnfrlError):
    """A dataset that cannot be read, written or trusted as it is."""


def dataset_error(source: object, problem: str, fix: str) -> DatasetError:
    """Build the one-line message `SOURCE: PROBLEM; FIX.` every dataset error uses."""
    return DatasetError(f"{source}: {problem}; {fix}")
