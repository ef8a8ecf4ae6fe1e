"""Generated hostile paths and headers against the local gateway in front of fraud-api (finding 6).

Requests are written byte for byte (``raw_request``): percent-encoded control characters, invalid
UTF-8, dot segments in any case and encoding, odd methods, header values with any byte an HTTP/1.1
server can receive. Whatever arrives, the answer is never a 5xx, and every answer the gateway or
fraud-api gives is JSON; only uvicorn's own refusal of a malformed request line is plain text.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import API_KEY, Servers
from tests.support.raw_http import raw_request

SEGMENT_PIECES = st.one_of(
    st.sampled_from(["..", ".", "%2e%2e", "%2E%2e", ".%2E", "%2e", "..%2F", "..%2f", "%2F", "%5C", "%00", "%7F"]),
    st.binary(min_size=1, max_size=3).map(lambda b: "".join(f"%{byte:02X}" for byte in b)),
    st.text(alphabet="abcXYZ019-_.~:@!$&'()*+,;=", min_size=1, max_size=6),
    st.sampled_from(["4111111111111111", "health", "ready", "v1", "decisions", "score", "transactions"]),
)
PATHS = st.tuples(
    st.sampled_from(["/api/", "/api/v1/decisions/", "/api/v1/", "/transactions/", "/", "//api/"]),
    st.lists(st.lists(SEGMENT_PIECES, min_size=1, max_size=3).map("".join), max_size=4).map("/".join),
    st.one_of(st.just(""), st.text(alphabet="a=&%0F1.", max_size=8).map(lambda q: "?" + q)),
).map(lambda parts: "".join(parts).encode("ascii"))
# Any byte but CR, LF and NUL, which end or break the header block before the server parses it.
HEADER_VALUES = st.binary(max_size=20).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b""))
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PROPFIND"])


@settings(max_examples=250, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(method=METHODS, target=PATHS, value=HEADER_VALUES, keyed=st.booleans())
def test_gateway_hostile_paths_and_headers_never_5xx(
    servers: Servers, method: str, target: bytes, value: bytes, keyed: bool
) -> None:
    headers = [(b"x-note", value), (b"user-agent", value)] + ([(b"x-api-key", API_KEY.encode())] if keyed else [])
    response = raw_request(servers.gateway_url, method, target, headers)
    assert response.status < 500, (method, target, value, response.status, response.body[:200])
    if "x-amzn-requestid" in response.headers and method != "HEAD":
        json.loads(response.body)  # the gateway's and fraud-api's answers are JSON
