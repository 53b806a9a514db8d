"""The transcript behind failure evidence and the stateful suite's per-step reproduction."""

import httpx

from seecodes_conformance.http.evidence import Transcript


def _response(path: str) -> httpx.Response:
    request = httpx.Request("GET", f"http://target{path}")
    return httpx.Response(200, request=request, content=b"{}")


def test_since_returns_exactly_the_exchanges_recorded_after_the_mark() -> None:
    transcript = Transcript(size=10)
    transcript.record(_response("/before"))
    mark = transcript.count
    assert transcript.since(mark) == []
    transcript.record(_response("/one"))
    transcript.record(_response("/two"))
    assert [e.url for e in transcript.since(mark)] == ["http://target/one", "http://target/two"]


def test_since_is_bounded_by_what_the_transcript_still_keeps() -> None:
    transcript = Transcript(size=3)
    mark = transcript.count
    for i in range(5):
        transcript.record(_response(f"/{i}"))
    assert [e.url for e in transcript.since(mark)] == [f"http://target/{i}" for i in (2, 3, 4)]
    assert transcript.last(0) == []
