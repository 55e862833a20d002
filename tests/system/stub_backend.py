"""A stand-in for Dendrite Lab servers behind nginx, for the nginx tests: one process listening on every
port given, answering any GET with "PORT HOST UPGRADE CONNECTION" (the port that answered and the headers
nginx passed on), so a test can see where nginx sent a request and how.

    python tests/system/stub_backend.py 5006 5007
"""
import http.server
import sys
import threading


class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        h = self.headers
        body = f"{self.server.server_address[1]} {h.get('Host')} {h.get('Upgrade')} {h.get('Connection')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", int(p)), Answer) for p in sys.argv[1:]]
    for extra in servers[1:]:
        threading.Thread(target=extra.serve_forever, daemon=True).start()
    servers[0].serve_forever()
