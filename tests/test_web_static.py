"""The dashboard's static files: the types served, nothing outside the directory, revalidation."""

import os

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

from pubbot.web.resources import StaticFiles, static_dir

from .support.web import http


class StaticFilesTests(SynchronousTestCase):
    def setUp(self):
        self.dir = self.mktemp()
        os.makedirs(os.path.join(self.dir, "sub"))
        for name, body in (("app.js", b"js"), ("style.css", b"css"), ("page.html", b"<p>"),
                           ("LICENSE", b"MIT"), ("sub/more.js", b"more"), ("secret.py", b"no"),
                           ("notes.txt", b"no")):
            with open(os.path.join(self.dir, name), "wb") as f:
                f.write(body)
        with open(os.path.join(os.path.dirname(self.dir), "outside.js"), "wb") as f:
            f.write(b"outside")
        root = Resource()
        root.putChild(b"static", StaticFiles(self.dir))
        self.site = Site(root)

    def get(self, path, headers=()):
        return http(self.site, path=path, headers=headers)

    def test_each_type_with_its_content_type(self):
        for path, body, kind in ((b"/static/app.js", b"js", b"text/javascript; charset=utf-8"),
                                 (b"/static/style.css", b"css", b"text/css; charset=utf-8"),
                                 (b"/static/page.html", b"<p>", b"text/html; charset=utf-8"),
                                 (b"/static/LICENSE", b"MIT", b"text/plain; charset=utf-8"),
                                 (b"/static/sub/more.js", b"more", b"text/javascript; charset=utf-8")):
            code, headers, content = self.get(path)
            self.assertEqual((code, content, headers[b"content-type"]), (200, body, [kind]), path)
            self.assertEqual(headers[b"cache-control"], [b"no-cache"])

    def test_other_types_listings_and_escapes_are_not_found(self):
        for path in (b"/static/secret.py", b"/static/notes.txt", b"/static/", b"/static", b"/static/sub/",
                     b"/static/sub", b"/static/missing.js", b"/static/../outside.js",
                     b"/static/%2e%2e/outside.js", b"/static/sub/..%2f..%2foutside.js",
                     b"/static/sub%2f..%2fapp.js", b"/static/%ff.js", b"/static/app.js%00.css",
                     b"/static/" + os.path.abspath(self.dir).encode() + b"/app.js"):
            code, _, content = self.get(path)
            self.assertEqual(code, 404, path)
            self.assertNotIn(b"outside", content)

    def test_unchanged_files_are_not_sent_again(self):
        code, headers, _ = self.get(b"/static/app.js")
        stamp = headers[b"last-modified"][0]
        code, _, content = self.get(b"/static/app.js", headers=(b"If-Modified-Since: " + stamp,))
        self.assertEqual((code, content), (304, b""))

    def test_head_sends_no_body(self):
        code, headers, content = http(self.site, method=b"HEAD", path=b"/static/style.css")
        self.assertEqual((code, content), (200, b""))
        self.assertEqual(headers[b"content-type"], [b"text/css; charset=utf-8"])

    def test_every_shipped_file_is_served(self):
        root = Resource()
        root.putChild(b"static", StaticFiles(static_dir()))
        site = Site(root)
        for folder, _, names in os.walk(static_dir()):
            for name in names:
                relative = os.path.relpath(os.path.join(folder, name), static_dir())
                code, _, _ = http(site, path=b"/static/" + relative.encode())
                self.assertEqual(code, 200, relative)
