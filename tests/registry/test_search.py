from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.support.hub import MakeAccount
from tests.support.packages import build
from tests.support.publishing import publish


def _seed(client: TestClient, make_account: MakeAccount, tmp_path: Path) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    specs = [
        (alice, "gsm8k", "Grade school math word problems", ["math"], "verifiers>=0.1,<0.2"),
        (alice, "wordle", "Play wordle against a rubric", ["games"], "verifiers>=0.4"),
        (
            bob,
            "sudoku-solver",
            "Solve sudoku puzzles step by step",
            ["games", "logic"],
            "verifiers>=0.4",
        ),
    ]
    for who, name, desc, tags, req in specs:
        r = publish(
            client,
            who.headers,
            who.name,
            build(
                tmp_path / name,
                name,
                description=desc,
                keywords=tags,
                requires=[req],
                readme=f"# {name}\n\nThe {desc.lower()} benchmark.\n",
            ),
        )
        assert r.status_code == 201, r.text


def _names(client: TestClient, **params: object) -> list[str]:
    r = client.get("/api/v1/environments", params=params)
    assert r.status_code == 200, r.text
    return [e["name"] for e in r.json()["items"]]


def test_full_text_filters_and_sorts(
    client: TestClient, make_account: MakeAccount, tmp_path: Path
) -> None:
    _seed(client, make_account, tmp_path)
    assert _names(client, q="puzzles") == ["sudoku-solver"]
    assert _names(client, q="benchmark math") == ["gsm8k"]  # README and description
    assert sorted(_names(client, tag="games")) == ["sudoku-solver", "wordle"]
    assert _names(client, tag=["games", "logic"]) == ["sudoku-solver"]
    assert _names(client, owner="alice", sort="name", order="asc") == ["gsm8k", "wordle"]
    assert _names(client, runtime="v0") == ["gsm8k"]
    assert _names(client, sort="name", order="desc") == ["wordle", "sudoku-solver", "gsm8k"]
    page = client.get(
        "/api/v1/environments", params={"per_page": 2, "page": 2, "sort": "name"}
    ).json()
    assert page["total"] == 3 and len(page["items"]) == 1
    bad = client.get("/api/v1/environments", params={"sort": "nope"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid-sort"


def test_stars_sort(client: TestClient, make_account: MakeAccount, tmp_path: Path) -> None:
    _seed(client, make_account, tmp_path)
    carol = make_account("carol")
    client.put("/api/v1/environments/bob/sudoku-solver/star", headers=carol.headers)
    assert _names(client, sort="stars")[0] == "sudoku-solver"
    starred = client.get(
        "/api/v1/environments", params={"starred": True}, headers=carol.headers
    ).json()
    assert [e["name"] for e in starred["items"]] == ["sudoku-solver"]


def test_tag_counts_hide_private(client: TestClient, make_account: MakeAccount,
                                 tmp_path: Path) -> None:
    _seed(client, make_account, tmp_path)
    dave = make_account("dave")
    publish(client, dave.headers, "dave", build(tmp_path / "p", "hidden", keywords=["secret"]),
            visibility="private")
    counts = {t["name"]: t["count"] for t in client.get("/api/v1/tags").json()}
    assert counts == {"games": 2, "logic": 1, "math": 1}
    mine = {t["name"] for t in client.get("/api/v1/tags", headers=dave.headers).json()}
    assert "secret" in mine
