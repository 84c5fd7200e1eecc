"""The browser harness itself: chromium starts, reaches the live server, and nothing else."""


def test_live_server_answers_in_chromium(live_server, page):
    response = page.goto(f"{live_server.url}/healthz")
    assert response.status == 200
    assert '"database":"up"' in page.content().replace(" ", "")
