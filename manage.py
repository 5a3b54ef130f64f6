#!/usr/bin/env python
"""Django's manage.py; `kukkaro` (see pyproject) is the same thing as a console command."""

from kukkaro.__main__ import main

if __name__ == "__main__":
    main()
