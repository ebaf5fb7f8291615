from ekr.settings.base import *
from ekr.settings.base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
