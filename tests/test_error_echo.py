"""What error messages echo of a request: bounded, and masked before they are cut."""

from __future__ import annotations

from impl.http.exceptions import MESSAGE_LIMIT
from tests.conftest import MakeClient

TOKEN = "tok-9c1f7e2ab34d5e6f7a8b9c0d"


def test_long_accept_is_cut_after_its_token_is_masked(make_client: MakeClient) -> None:
    client = make_client(tokens=(TOKEN,))
    auth = {"Authorization": f"Token {TOKEN}"}
    # The token straddles where the message is cut: a cut before masking would leave
    # its first half in the body, where no mask can find it any more.
    for padding in range(MESSAGE_LIMIT - 80, MESSAGE_LIMIT + 20, 7):
        accept = "x/" + "a" * padding + ", " + TOKEN
        response = client.get("/metrics", headers={**auth, "Accept": accept})
        assert response.status_code == 406
        assert TOKEN[:6] not in response.text, padding
        assert len(response.json()["message"]) <= MESSAGE_LIMIT


def test_hundreds_of_names_are_not_echoed_whole(make_client: MakeClient) -> None:
    client = make_client()
    query = "&".join(f"name[]=family_{n}" for n in range(700))
    response = client.get(f"/metrics?{query}")
    assert response.status_code == 400
    assert response.headers["X-Platform-Error-Code"] == "invalid"
    message = response.json()["message"]
    assert message == (
        "invalid name[]: ['family_0', 'family_1', 'family_2', 'family_3', 'family_4', "
        "'family_5', ...] is too long"
    )
    assert len(response.content) < 2 * MESSAGE_LIMIT


def test_short_messages_are_left_as_they_are(make_client: MakeClient) -> None:
    response = make_client().get("/metrics", headers={"Accept": "image/png"})
    assert response.status_code == 406
    message = response.json()["message"]
    assert message == (
        "/metrics serves text/plain and application/openmetrics-text, not 'image/png'"
    )
