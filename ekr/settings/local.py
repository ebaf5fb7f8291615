from ekr.settings.base import *
from ekr.settings.base import env_bool

DEBUG = env_bool("DJANGO_DEBUG", True)
