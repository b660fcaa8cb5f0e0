"""The test site: Django's own login view (CSRF on) at /accounts/login/, and /ws/chat/, a
Channels consumer that accepts only an authenticated session, behind the origin check and the
session middleware a Channels project puts in front of its consumers.

Run as a program, it creates its database and the user `probe` (password from
WSPROBE_DJANGO_PASSWORD), then serves with Daphne on 127.0.0.1:WSPROBE_DJANGO_PORT."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django  # noqa: E402

django.setup()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.generic.websocket import JsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.auth import views as auth_views  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


def home(request):
    return HttpResponse(f"hello {request.user}")


urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view()),
    path("", home),
]


class Chat(JsonWebsocketConsumer):
    """Refuses (HTTP 403 on the upgrade) unless the session is logged in; then welcomes, and
    answers pings. The welcome repeats the session key: what a leaky app might do, so the
    test can see wsprobe scrub it."""

    def connect(self):
        user = self.scope["user"]
        if not user.is_authenticated:
            self.close()
            return
        self.accept()
        session = self.scope["session"].session_key
        self.send_json({"type": "welcome", "user": user.username, "session": session})

    def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            self.send_json({"type": "pong"})


application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([path("ws/chat/", Chat.as_asgi())]))
        ),
    }
)


def main():
    from daphne.cli import CommandLineInterface
    from django.contrib.auth.models import User
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    User.objects.create_user("probe", password=os.environ["WSPROBE_DJANGO_PASSWORD"])
    port = os.environ["WSPROBE_DJANGO_PORT"]
    CommandLineInterface().run(["-b", "127.0.0.1", "-p", port, "chat:application"])


if __name__ == "__main__":
    main()
