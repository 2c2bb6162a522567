"""`python -m layerloom`: the `layerloom` command (its commands, or the window)."""
import sys

from layerloom.app.main import main

if __name__ == "__main__":
    sys.exit(main())
