"""Full-text search reads a stored, GIN-indexed tsvector on PostgreSQL; SQLite keeps LIKE.

`environments.search_vector` is `to_tsvector('english', search_text)`, generated and stored
by PostgreSQL (hub.registry.models). The search means what it meant when the vector was
computed per row: `websearch_to_tsquery('english', q)` against the text, or the whole query
as a substring of the name; ranked by ts_rank plus 1.0 for a name hit, then downloads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import case, event, func, insert, inspect, or_, select, text
from sqlalchemy.orm import Session

from hub.accounts.models import Namespace, NamespaceKind
from hub.kit.db import make_engine
from hub.kit.names import normalize_project
from hub.registry import catalog
from hub.registry.models import Environment, Visibility
from tests.support.hub import MakeAccount
from tests.support.packages import build
from tests.support.publishing import publish

PUBLIC, PRIVATE = Visibility.PUBLIC, Visibility.PRIVATE

# name, description, tags, downloads, visibility
CATALOG: list[tuple[str, str, list[str], int, Visibility]] = [
    ("chess-endgames", "Checkmate puzzles from annotated games", ["chess", "games"], 10, PUBLIC),
    ("gsm8k", "Grade school math word problems", ["math"], 500, PUBLIC),
    ("math-proofs", "Formal proofs checked by Lean", ["math", "logic"], 5, PUBLIC),
    ("sudoku-solver", "Solve sudoku puzzles step by step", ["games", "logic"], 50, PUBLIC),
    ("wordle", "Play wordle against a rubric", ["games"], 200, PUBLIC),
    ("alpha-maze", "Grid navigation", [], 7, PUBLIC),
    ("beta-maze", "Grid navigation", [], 7, PUBLIC),
    ("chess-engine", "A private chess engine", ["chess"], 1000, PRIVATE),
]

# What each query finds, in order, for an anonymous caller (so never `chess-engine`).
EXPECTED: list[tuple[str, list[str]]] = [
    # An English stem of the description; one occurrence each, so equal text ranks and
    # downloads decide.
    ("puzzle", ["sudoku-solver", "chess-endgames"]),
    # The name hit (+1.0) outranks any text rank: math-proofs before gsm8k's 500 downloads.
    ("math", ["math-proofs", "gsm8k"]),
    ("word problems", ["gsm8k"]),            # every word, in any order
    ('"word problems"', ["gsm8k"]),          # a phrase: adjacent, in this order
    ('"problems word"', []),
    ("games -chess", ["wordle", "sudoku-solver"]),  # "-" excludes
    ("sudoku OR rubric", ["sudoku-solver", "wordle"]),
    ("doku", ["sudoku-solver"]),             # no prefix matching in the text: only the name
    ("maze", ["alpha-maze", "beta-maze"]),   # same rank, same downloads: by name
    ("navigation", ["alpha-maze", "beta-maze"]),
    ("chess", ["chess-endgames"]),           # the private one is not visible
    ("the", []),                             # a stop word, and in no name
    ("%", []),                               # LIKE wildcards are escaped
    ("_", []),
    ("zebra", []),
]


def _seed(db: Session) -> None:
    """Environments whose search_text is written by the code publishing uses."""
    owner = Namespace(name=f"searcher-{uuid.uuid4().hex[:8]}", kind=NamespaceKind.USER)
    db.add(owner)
    db.flush()
    for name, description, tags, downloads, visibility in CATALOG:
        env = Environment(owner_id=owner.id, name=name, normalized_name=normalize_project(name),
                          visibility=visibility, description=description, downloads=downloads)
        db.add(env)
        db.flush()
        catalog.set_tags(db, env, tags)
        catalog.refresh_environment(db, env)


def _search(db: Session, q: str, **kw: Any) -> tuple[list[str], int]:
    rows, total = catalog.search(db, None, catalog.SearchQuery(q=q, **kw))
    return [e.name for e in rows], total


@pytest.mark.parametrize(("q", "expected"), EXPECTED)
def test_search_finds_what_the_query_means(db: Session, q: str, expected: list[str]) -> None:
    _seed(db)
    assert _search(db, q, per_page=100) == (expected, len(expected))


def test_search_matches_the_per_row_vector_it_replaces(db: Session) -> None:
    """The indexed search returns the rows, order and totals of the old per-row
    `to_tsvector('english', search_text)` expression, page by page."""
    _seed(db)
    for q, _ in EXPECTED:
        vector = func.to_tsvector("english", Environment.search_text)
        tsq = func.websearch_to_tsquery("english", q)
        name_hit = Environment.normalized_name.ilike(f"%{catalog._escape(q.lower())}%",
                                                     escape="\\")
        rank = func.ts_rank(vector, tsq) + case((name_hit, 1.0), else_=0.0)
        before = db.scalars(
            select(Environment.name).where(Environment.visibility == PUBLIC,
                                           or_(vector.op("@@")(tsq), name_hit))
            .order_by(rank.desc(), Environment.downloads.desc(), Environment.normalized_name,
                      Environment.id)).all()
        pages: list[str] = []
        for page in range(1, len(before) + 2):
            names, total = _search(db, q, per_page=1, page=page)
            assert total == len(before), q
            pages += names
        assert pages == before, q


def test_pages_and_totals(db: Session) -> None:
    _seed(db)
    # "games" twice in chess-endgames (description and tag), once in the other two.
    everything = ["chess-endgames", "wordle", "sudoku-solver"]
    assert _search(db, "games", per_page=2) == (everything[:2], 3)
    assert _search(db, "games", per_page=2, page=2) == (everything[2:], 3)
    assert _search(db, "games", per_page=2, page=3) == ([], 3)
    assert _search(db, "games", per_page=3) == (everything, 3)


def test_search_vector_is_a_generated_column_with_a_gin_index(db: Session) -> None:
    column = db.execute(text(
        "SELECT data_type, is_generated, generation_expression FROM information_schema.columns"
        " WHERE table_name = 'environments' AND column_name = 'search_vector'")).one()
    assert column == ("tsvector", "ALWAYS",
                      "to_tsvector('english'::regconfig, COALESCE(search_text, ''::text))")
    index = db.scalar(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'environments'"
                           " AND indexname = 'ix_environments_search_vector'"))
    assert index is not None and "USING gin (search_vector)" in index


def _vector_is_current(db: Session, full_name: str) -> bool:
    owner, name = full_name.split("/")
    return bool(db.scalar(text(
        "SELECT e.search_vector = to_tsvector('english', e.search_text) FROM environments e"
        " JOIN namespaces n ON n.id = e.owner_id WHERE n.name = :owner AND e.name = :name"),
        {"owner": owner, "name": name}))


def _api_names(client: TestClient, q: str) -> list[str]:
    r = client.get("/api/v1/environments", params={"q": q})
    assert r.status_code == 200, r.text
    return [e["name"] for e in r.json()["items"]]


def test_vector_follows_publish_and_patch(
    client: TestClient, make_account: MakeAccount, tmp_path: Path, db: Session
) -> None:
    alice = make_account("alice")
    r = publish(client, alice.headers, "alice", build(
        tmp_path, "maze-runner", description="Escape a labyrinth", keywords=["games"],
        readme="# maze-runner\n\nFind the exit of a labyrinth.\n"))
    assert r.status_code == 201, r.text
    assert _api_names(client, "labyrinth") == ["maze-runner"]
    assert _api_names(client, "quokka") == []
    assert _vector_is_current(db, "alice/maze-runner")

    # A PATCH rewrites search_text; the database recomputes the vector with it.
    r = client.patch("/api/v1/environments/alice/maze-runner",
                     json={"description": "Guide a quokka home", "tags": ["marsupials"]},
                     headers=alice.headers)
    assert r.status_code == 200, r.text
    assert _api_names(client, "quokka") == ["maze-runner"]
    assert _api_names(client, "marsupial") == ["maze-runner"]
    assert _api_names(client, "games") == []          # the old tag is gone
    assert _api_names(client, "labyrinth") == ["maze-runner"]  # still in the README
    assert _vector_is_current(db, "alice/maze-runner")

    # A new version brings its README.
    r = publish(client, alice.headers, "alice", build(
        tmp_path, "maze-runner", "0.2.0", description="Guide a quokka home",
        readme="# maze-runner\n\nNow with wombats.\n"))
    assert r.status_code == 201, r.text
    assert _api_names(client, "wombat") == ["maze-runner"]
    assert _api_names(client, "labyrinth") == []
    assert _vector_is_current(db, "alice/maze-runner")


@pytest.fixture
def statements(db: Session) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements the session sends while the test runs."""
    seen: list[tuple[str, Any]] = []
    conn = db.connection()

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
             _executemany: bool) -> None:
        seen.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", grab)
    yield seen
    event.remove(conn, "before_cursor_execute", grab)


def test_search_plans_use_the_gin_index(db: Session,
                                        statements: list[tuple[str, Any]]) -> None:
    owner = Namespace(name=f"bulk-{uuid.uuid4().hex[:8]}", kind=NamespaceKind.USER)
    db.add(owner)
    db.flush()
    rows = [{"owner_id": owner.id, "name": f"env-{i}", "normalized_name": f"env-{i}",
             "visibility": PUBLIC, "downloads": i,
             "description": "", "search_text": f"env-{i} env {i} Arithmetic word problems"
             f" and board games, number {i}." + (" Featuring a quokka." if i % 500 == 0 else "")}
            for i in range(2000)]
    db.execute(insert(Environment), rows)
    db.execute(text("ANALYZE environments"))
    # With a small table the planner may still prefer reading it whole (a matter of cost
    # estimates that depend on the machine's statistics); switching sequential scans off
    # for this transaction makes the choice deterministic while still proving that the
    # index can serve the match.
    db.execute(text("SET LOCAL enable_seqscan = off"))
    statements.clear()
    names, total = _search(db, "quokka", per_page=2)   # a full page: the count runs too
    assert (names, total) == (["env-1500", "env-1000"], 4)
    searched = [(s, p) for s, p in statements if "search_vector @@" in s]
    assert len(searched) == 2  # the page and the count
    conn = db.connection()
    for sql, params in searched:
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql, params))
        assert "ix_environments_search_vector" in plan, plan
        assert "to_tsvector" not in plan, plan


def test_sqlite_searches_with_like_and_has_no_vector(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        assert "search_vector" not in {c["name"] for c in inspect(engine).get_columns(
            "environments")}
        assert "ix_environments_search_vector" not in {
            i["name"] for i in inspect(engine).get_indexes("environments")}
        with engine.connect() as conn:
            outer = conn.begin()
            db = Session(bind=conn, join_transaction_mode="create_savepoint")
            try:
                _seed(db)
                # Every word as a substring of search_text, case-insensitively; name hits
                # first, then downloads.
                assert _search(db, "puzzles", per_page=100) == (
                    ["sudoku-solver", "chess-endgames"], 2)
                assert _search(db, "MATH", per_page=100) == (["math-proofs", "gsm8k"], 2)
                assert _search(db, "word probl", per_page=100) == (["gsm8k"], 1)
                assert _search(db, "doku", per_page=100) == (["sudoku-solver"], 1)
                assert _search(db, "maze", per_page=1, page=2) == (["beta-maze"], 2)
                assert _search(db, "%", per_page=100) == ([], 0)
            finally:
                db.close()
                outer.rollback()
    finally:
        engine.dispose()
