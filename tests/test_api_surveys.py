"""Publishing surveys and GET /api/v1/surveys, on SQLite and on PostgreSQL."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient
from server_helpers import ApiServer

from kiosk.survey import Survey, builtin_survey, builtin_survey_ids, parse_survey
from sync.server.surveys import PublishError, publish

pytest_plugins = ["server_fixtures"]

PATH = "/api/v1/surveys"


def version_of(survey_id: str, version: int, title: str = "Changed") -> Survey:
    raw: dict[str, Any] = copy.deepcopy(dict(builtin_survey(survey_id).raw))
    raw["version"] = version
    raw["title"] = {language: title for language in raw["languages"]}
    return parse_survey(raw)


def do_publish(server: ApiServer, survey: Survey, site: str | None = None) -> str:
    with server.engine.begin() as connection:
        return publish(connection, survey, site)


def get(client: TestClient, token: str, etag: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if etag:
        headers["If-None-Match"] = etag
    return client.get(PATH, headers=headers)


def versions(response: Any) -> dict[str, int]:
    assert response.status_code == 200, response.text
    return {s["id"]: s["version"] for s in response.json()["surveys"]}


def test_a_new_server_offers_the_builtin_surveys_with_an_etag(api_server):
    client = TestClient(api_server.app)
    token = api_server.enroll()
    first = get(client, token)
    assert versions(first) == dict.fromkeys(builtin_survey_ids(), 1)
    for definition in first.json()["surveys"]:
        assert parse_survey(definition) == builtin_survey(definition["id"])
    etag = first.headers["ETag"]
    again = get(client, token, etag)
    assert again.status_code == 304
    assert again.headers["ETag"] == etag
    assert get(client, token, '"something-else"').status_code == 200
    assert get(client, token, f'"x", W/{etag}').status_code == 304


def test_sites_see_their_own_newest_versions(api_server):
    client = TestClient(api_server.app)
    north, south = api_server.enroll("n1", "north"), api_server.enroll("s1", "south")
    south_etag = get(client, south).headers["ETag"]
    north_etag = get(client, north).headers["ETag"]
    assert "for site north" in do_publish(api_server, version_of("fft", 2), "north")
    assert versions(get(client, north))["fft"] == 2
    assert versions(get(client, south))["fft"] == 1
    assert get(client, south, south_etag).status_code == 304
    assert get(client, north, north_etag).status_code == 200
    assert "for every site" in do_publish(api_server, version_of("fft", 3), None)
    assert versions(get(client, north))["fft"] == 3
    assert versions(get(client, south))["fft"] == 3


def test_the_version_must_go_up_and_a_version_never_changes(api_server):
    do_publish(api_server, version_of("fft", 2), "north")
    with pytest.raises(PublishError, match="must be higher than v2"):
        do_publish(api_server, version_of("fft", 2), "north")
    with pytest.raises(PublishError, match="must be higher than v1"):
        do_publish(api_server, builtin_survey("fft"), "south")
    with pytest.raises(PublishError, match="already published with other content"):
        do_publish(api_server, version_of("fft", 2, title="Other words"), "south")
    with pytest.raises(PublishError, match="must be higher than v2"):
        do_publish(api_server, version_of("fft", 2), None)
    assert "for site south" in do_publish(api_server, version_of("fft", 2), "south")


def test_surveys_need_a_kiosk_token(api_server):
    client = TestClient(api_server.app)
    assert client.get(PATH).status_code == 401
    assert client.get(PATH, headers={"Authorization": "Bearer x.y"}).status_code == 401
