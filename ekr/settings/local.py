from ekr.settings.base import *  # noqa: F401,F403
from ekr.settings.base import env_bool

DEBUG = env_bool("DJANGO_DEBUG", True)
