"""``python -m seawall simulate|sweep ...``: the ``seawall`` command line.

The same parser and runs as the ``seawall`` binary (``--help`` lists the
scenarios and settings); ``seawall.simulation`` returns the same results as
``dict`` objects for notebooks.
"""

import sys

from seawall import _native


def main() -> None:
    """Runs the command line in ``sys.argv`` and exits with its status."""
    sys.stdout.flush()
    raise SystemExit(_native.cli_main(["seawall", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
