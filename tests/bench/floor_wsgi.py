"""The floor of any proxy on this stack: a bare WSGI app (no Django) in the same gunicorn.

It forwards each request to FLOOR_UPSTREAM with FLOOR_HEADER: FLOOR_VALUE through one
process-wide requests.Session (kept-alive connections, no environment lookups) and returns the
answer. No checks, no credentials to open, no usage row: what is left is gunicorn, requests
and the second loopback hop. tests/bench/test_proxy_bench.py prints its overhead beside the
proxy's, so a target below it is visibly out of reach of this stack on this machine.
"""

import os

import requests

UPSTREAM = os.environ["FLOOR_UPSTREAM"]
HEADERS = {os.environ["FLOOR_HEADER"]: os.environ["FLOOR_VALUE"]}
_session = requests.Session()
_session.trust_env = False


def application(environ, start_response):
    answer = _session.get(UPSTREAM, headers=HEADERS, timeout=30)
    body = answer.content
    start_response(
        f"{answer.status_code} {answer.reason}",
        [("Content-Type", answer.headers.get("Content-Type", "")), ("Content-Length", str(len(body)))],
    )
    return [body]
