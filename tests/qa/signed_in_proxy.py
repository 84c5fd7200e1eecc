"""A read-only proxy that is signed in, so page checkers that cannot sign in can check staff pages.

    .venv/bin/python tests/qa/signed_in_proxy.py --upstream http://127.0.0.1:5000 --port 5001 \
        --email admin@example.org < password-file
    ../shared/tools/a11y.py http://127.0.0.1:5001/staff/reports http://127.0.0.1:5001/staff/admin/

It signs in once through the real sign-in form (the password is read from
standard input, never from the command line), then answers GET and HEAD on
127.0.0.1:PORT by asking the upstream with that session's cookie. Anything
else answers 405: a checker walking the pages can never press a button.
Use it against a development server (the production cookie is Secure, which
this plain-http proxy does not send).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "set-cookie"}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def sign_in(upstream: str, email: str, password: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    page = opener.open(f"{upstream}/staff/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    if token is None:
        sys.exit("no csrf_token on the sign-in page")
    form = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": token.group(1)}).encode()
    try:
        opener.open(f"{upstream}/staff/login", data=form)
        sys.exit("sign-in did not redirect: wrong email or password, or a second factor is required")
    except urllib.error.HTTPError as redirect:
        if redirect.code not in (302, 303) or "/staff/login" in (redirect.headers.get("Location") or ""):
            sys.exit(f"sign-in failed with HTTP {redirect.code}")
    return opener


def handler_for(upstream: str, opener: urllib.request.OpenerDirector):
    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self):
            try:
                response = opener.open(urllib.request.Request(upstream + self.path, method=self.command))
            except urllib.error.HTTPError as error:
                response = error
            body = response.read()
            self.send_response(response.status if hasattr(response, "status") else response.code)
            for name, value in response.headers.items():
                if name.lower() not in HOP_HEADERS:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET

        def refuse(self):
            self.send_error(405, "read-only proxy")

        do_POST = do_PUT = do_PATCH = do_DELETE = refuse

        def log_message(self, fmt, *args):  # paths only, to stderr
            sys.stderr.write(f"proxy: {self.command} {self.path.split('?')[0]}\n")

    return Proxy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", default="http://127.0.0.1:5000")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--email", required=True)
    args = parser.parse_args()
    if not re.match(r"^http://(127\.\d+\.\d+\.\d+|localhost)(:\d+)?$", args.upstream):
        sys.exit("the upstream must be a loopback http URL")
    opener = sign_in(args.upstream, args.email, sys.stdin.readline().rstrip("\n"))
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(args.upstream, opener))
    print(f"signed in as {args.email}; serving {args.upstream} read-only on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
