"""Settings of the test site: a stock Django project's session, CSRF and auth middleware, and
Channels. Everything that varies per test run comes from the environment."""

import os

SECRET_KEY = "wsprobe-tests-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "chat"
ASGI_APPLICATION = "chat.application"
LOGIN_REDIRECT_URL = "/"

# The login page a project writes in templates/registration/login.html, kept in memory so the
# site stays two files.
LOGIN_PAGE = """<!doctype html><title>Log in</title>
{% if form.errors %}<p>Please enter a correct username and password.</p>{% endif %}
<form method="post">{% csrf_token %}{{ form.as_p }}<button>Log in</button></form>"""
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {
            "loaders": [
                ("django.template.loaders.locmem.Loader", {"registration/login.html": LOGIN_PAGE}),
            ],
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["WSPROBE_DJANGO_DB"],
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
