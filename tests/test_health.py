"""/healthz answers for operators and load balancers: 200 when the database answers, 503 when not."""

from intake import create_app


def test_healthz_ok_with_a_working_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "up"}


def test_healthz_503_when_the_database_is_unreachable(app_env):
    # Nothing listens on port 1: every connection attempt is refused at once.
    app_env.setenv("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2")
    app = create_app("testing")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "down"
