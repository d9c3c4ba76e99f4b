"""Names and ids from query strings and paths are validated in one place (``model.names``):
400 with status_code 1003, never a 500 and never a path outside the models root (issue 15,
point 5)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

BAD = ["%00", "..%2F..", "..", "a%0Ab", "x" * 300]

REQUESTS = [
    ("GET", "/api/v1/models?user={}", "invalid user name"),
    ("GET", "/api/v1/keys?user={}", "invalid user name"),
    ("GET", "/api/v1/usage?key_id={}", "invalid key id"),
    ("DELETE", "/api/v1/keys/{}", "invalid key id"),
    ("DELETE", "/api/v1/connections/{}", "invalid connection id"),
    ("DELETE", "/api/v1/predictions/connections/{}", "invalid connection id"),
    ("GET", "/api/v1/models/{}/class/m", "invalid strategy"),
    ("DELETE", "/api/v1/models/s/class/{}?user=u", "invalid model name"),
    ("DELETE", "/api/v1/predictions/live/{}/m", "invalid strategy"),
]


@pytest.mark.parametrize(("method", "path", "message"), REQUESTS)
async def test_bad_names_get_400(start_server: Any, method: str, path: str, message: str) -> None:
    server = await start_server(sources="none")
    async with httpx.AsyncClient(base_url=server.http) as http:
        in_path = "?" not in path.split("{}")[0]
        for bad in BAD:
            url = path.format(bad)
            answer = await http.request(method, url, headers={"X-API-Key": server.admin_key})
            if in_path and bad in ("..", "..%2F.."):  # dot segments and '/' match no route
                assert answer.status_code == 404, (url, answer.text)
                continue
            assert answer.status_code == 400, (url, answer.text)
            body = answer.json()
            assert body["status_code"] == 1003 and message in body["message"], body


async def test_models_of_a_dot_dot_user_never_reach_outside_the_root(start_server: Any) -> None:
    """``../..`` as a user would list the data directory's parent: refused before any I/O."""
    server = await start_server(sources="none")
    async with httpx.AsyncClient(base_url=server.http) as http:
        answer = await http.get(
            "/api/v1/models", params={"user": "../.."}, headers={"X-API-Key": server.admin_key}
        )
    assert answer.status_code == 400
    assert "invalid user name '../..'" in answer.json()["message"]
