#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ekr.settings.local")
    import django
    from django.core.management import execute_from_command_line

    django.setup()
    from ekr.startup import refuse_unsafe_start

    refuse_unsafe_start()
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
