"""The Integration page (AppTest, in-process): save, Test against the sandbox, preview, Activate, Run now."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from storage.clock import utcnow
from storage.db import read_session, write_session
from storage.models import Integration, Run
from sync.accounts.organizations import create_organization
from sync.integration.settings import save_settings
from tests.support.dashboard import app_logged_in, page_text
from tests.support.sandbox import SandboxProcess

PASSWORD = "correct horse battery"
OWNER = "olga@acme.test"


@pytest.fixture
def org_id(engine: Engine) -> int:
    org = create_organization(
        engine, slug="acme", name="Acme", owner_email=OWNER, owner_password=PASSWORD, owner_first_name="Olga"
    )
    assert org.id is not None
    return org.id


def configure(engine: Engine, org_id: int, sandbox: SandboxProcess, **settings: object) -> None:
    save_settings(
        engine,
        org_id,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        base_url=sandbox.base_url,
        **settings,  # type: ignore[arg-type]
    )


def integration(engine: Engine, org_id: int) -> Integration:
    with read_session(engine) as session:
        found = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
    return found


def run_test(app: AppTest) -> AppTest:
    return app.button(key="test").click().run()


def test_saving_settings_stores_them_and_never_shows_the_secret_again(engine: Engine, org_id: int) -> None:
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.text_input(key="integration_client_id").input("papi-client")
    app.text_input(key="integration_client_secret_0").input("s3cret-value-never-shown")
    app.text_input(key="integration_base_url").input("http://127.0.0.1:9/")
    app.selectbox(key="integration_language").set_value("de")
    app.toggle(key="integration_external").set_value(True)
    app.checkbox(key="integration_job_title").uncheck()
    app.checkbox(key="integration_team_department").check()
    app.checkbox(key="integration_team_supervisor").check()
    app.button(key="save").click().run()

    assert not app.exception
    saved = integration(engine, org_id)
    assert saved.client_id == "papi-client"
    assert saved.base_url == "http://127.0.0.1:9"
    assert saved.language == "de"
    assert saved.sync_external is True
    assert saved.sync_job_title is False
    assert saved.team_attributes == ["supervisor", "department"]
    assert saved.client_secret_encrypted and "s3cret" not in saved.client_secret_encrypted
    assert "Settings saved" in page_text(app)
    assert "A secret is set" in page_text(app)
    assert all("s3cret" not in str(t.value) for t in app.text_input)
    assert "s3cret" not in page_text(app)


def test_replacing_the_secret_asks_for_a_new_one(engine: Engine, org_id: int) -> None:
    save_settings(engine, org_id, client_id="id", client_secret="first-secret")
    first_set_at = integration(engine, org_id).secret_set_at
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.button(key="replace_secret").click().run()
    app.text_input(key="integration_client_secret_0").input("second-secret")
    app.button(key="save").click().run()
    assert not app.exception
    assert integration(engine, org_id).secret_set_at != first_set_at
    assert "A secret is set" in page_text(app)


def test_a_setting_that_cannot_be_used_is_explained_and_nothing_is_saved(engine: Engine, org_id: int) -> None:
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.text_input(key="integration_client_id").input("papi-client")
    app.text_input(key="integration_base_url").input("api.personio.de")
    app.button(key="save").click().run()
    assert not app.exception
    assert any("must start with https://" in e.value for e in app.error)
    assert any("Nothing was saved" in i.value for i in app.info)
    assert integration(engine, org_id).client_id == ""


def test_language_help_says_which_languages_have_email_templates(engine: Engine, org_id: int) -> None:
    app = app_logged_in(engine, OWNER, PASSWORD)
    assert "Welcome emails are written in English and German" in page_text(app)
    assert "sent in English" in page_text(app)


def test_passing_test_shows_metrics_preview_warnings_and_enables_activate(
    engine: Engine, org_id: int, sandbox: SandboxProcess
) -> None:
    configure(engine, org_id, sandbox, team_attributes=["department"])
    app = app_logged_in(engine, OWNER, PASSWORD)
    assert app.button(key="activate").disabled

    app = run_test(app)

    assert not app.exception
    assert any("Test passed" in s.value for s in app.success)
    metrics = {m.label: int(m.value) for m in app.metric}
    assert metrics["Users to create"] > 0
    assert metrics["Teams to create"] > 0
    assert set(metrics) >= {"Users to update", "Users to deactivate", "Memberships to add", "Records skipped"}
    preview = app.dataframe[0].value
    assert list(preview.columns) == ["Entity", "Action", "Name or email", "Personio ID", "Change"]
    assert len(preview) == sum(v for k, v in metrics.items() if k != "Records skipped")
    assert set(preview["Entity"]) == {"User", "Team", "Membership"}
    assert app.download_button(key="preview_csv")
    if metrics["Records skipped"]:
        assert len(app.dataframe[1].value) == metrics["Records skipped"]
    assert not app.button(key="activate").disabled
    assert integration(engine, org_id).last_test_ok_at is not None
    # The live examples now come from the fetched data.
    assert "(from your last Test)" in page_text(app)


def test_preview_filters_by_entity_action_and_search(
    engine: Engine, org_id: int, sandbox: SandboxProcess
) -> None:
    configure(engine, org_id, sandbox, team_attributes=["department"])
    app = run_test(app_logged_in(engine, OWNER, PASSWORD))
    everything = app.dataframe[0].value
    app.multiselect(key="preview_entity").select("Team").run()
    teams = app.dataframe[0].value
    assert 0 < len(teams) < len(everything)
    assert set(teams["Entity"]) == {"Team"}
    name = str(teams.iloc[0]["Name or email"])
    app.multiselect(key="preview_entity").unselect("Team")
    app.text_input(key="preview_search").input(name.upper()).run()
    found = app.dataframe[0].value
    assert name in set(found["Name or email"])
    assert len(found) < len(everything)


def test_failing_test_shows_the_error_and_its_hint_and_keeps_activate_disabled(
    engine: Engine, org_id: int, sandbox: SandboxProcess
) -> None:
    save_settings(
        engine, org_id, client_id=sandbox.client_id, client_secret="wrong-secret", base_url=sandbox.base_url
    )
    app = run_test(app_logged_in(engine, OWNER, PASSWORD))
    assert not app.exception
    (error,) = app.error
    assert error.value.startswith("Test failed: ")
    assert "401" in error.value or "rejected" in error.value
    assert app.info[-1].value  # the hint
    assert "Traceback" not in page_text(app)
    assert app.button(key="activate").disabled


def test_test_saves_unsaved_changes_first(engine: Engine, org_id: int, sandbox: SandboxProcess) -> None:
    configure(engine, org_id, sandbox)
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.checkbox(key="integration_team_office").check()
    app = run_test(app)
    assert integration(engine, org_id).team_attributes == ["office"]
    assert any("Test passed" in s.value for s in app.success)
    assert not app.button(key="activate").disabled


def test_changing_settings_after_a_passing_test_disables_activate_again(
    engine: Engine, org_id: int, sandbox: SandboxProcess
) -> None:
    configure(engine, org_id, sandbox)
    app = run_test(app_logged_in(engine, OWNER, PASSWORD))
    assert not app.button(key="activate").disabled
    app.toggle(key="integration_external").set_value(True)
    app.button(key="save").click().run()
    assert app.button(key="activate").disabled
    assert "The settings changed after this Test" in page_text(app)


def test_activate_modal_explains_and_starts_the_first_run(
    engine: Engine, org_id: int, sandbox: SandboxProcess
) -> None:
    configure(engine, org_id, sandbox)
    app = run_test(app_logged_in(engine, OWNER, PASSWORD))
    app.button(key="activate").click().run()
    explanation = page_text(app)
    assert "The first sync run starts now." in explanation
    assert "daily at 04:00 UTC" in explanation
    app.button(key="activate_confirm").click().run()

    assert not app.exception
    assert integration(engine, org_id).state == "active"
    with read_session(engine) as session:
        runs = session.exec(select(Run).where(Run.org_id == org_id)).all()
    assert [(r.trigger, r.status) for r in runs] == [("activation", "queued")]
    assert any("The integration is active" in s.value for s in app.success)
    assert app.button(key="run_now") and app.button(key="deactivate")
    assert not [b for b in app.button if b.key == "activate"]
    assert any(f"Run #{runs[0].id} is queued" in i.value for i in app.info)


def test_run_now_queues_one_run_and_deactivate_asks_first(
    engine: Engine, org_id: int, sandbox: SandboxProcess
) -> None:
    configure(engine, org_id, sandbox)
    app = run_test(app_logged_in(engine, OWNER, PASSWORD))
    app.button(key="activate").click().run()
    app.button(key="activate_confirm").click().run()
    app.button(key="run_now").click().run()
    assert any("is queued" in s.value for s in app.success)
    with read_session(engine) as session:
        runs = session.exec(select(Run).where(Run.org_id == org_id)).all()
    assert len(runs) == 1  # Run now returns the run that is already queued

    app.button(key="deactivate").click().run()
    assert "Automatic runs stop" in page_text(app)
    assert integration(engine, org_id).state == "active"
    app.button(key="deactivate_confirm").click().run()
    assert integration(engine, org_id).state == "inactive"
    assert app.button(key="activate")


def test_paused_banner_shows_the_error_its_hint_and_how_to_resume(engine: Engine, org_id: int) -> None:
    now = utcnow()
    with write_session(engine) as session:
        run = Run(
            org_id=org_id,
            trigger="automatic",
            status="failed",
            queued_at=now,
            finished_at=now,
            error_code="auth_failed",
            error_message="Personio rejected the Client ID / Client Secret (401).",
            error_hint="Create new API credentials in Personio and enter them here.",
        )
        session.add(run)
        session.flush()
        found = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
        found.state = "paused"
        found.paused_run_id = run.id
        found.pause_reason = run.error_message
        session.add(found)
    app = app_logged_in(engine, OWNER, PASSWORD)
    assert any("Paused." in w.value and "rejected" in w.value for w in app.warning)
    assert any("Create new API credentials" in i.value for i in app.info)
    assert "To resume" in page_text(app)
    assert app.button(key="run_now")


def test_owner_approves_a_safety_stop_with_one_click(engine: Engine, org_id: int) -> None:
    now = utcnow()
    with write_session(engine) as session:
        run = Run(
            org_id=org_id,
            trigger="automatic",
            status="failed",
            queued_at=now,
            finished_at=now,
            error_code="safety_stop",
            error_message="The run would deactivate 40 of 100 synced users (40%), more than the 25% allowed.",
            error_hint="Check Personio. If the deactivations are right, approve the run.",
        )
        session.add(run)
        session.flush()
        found = session.exec(select(Integration).where(Integration.org_id == org_id)).one()
        found.state = "paused"
        found.paused_run_id = run.id
        session.add(found)
    app = app_logged_in(engine, OWNER, PASSWORD)
    app.button(key="approve_safety").click().run()
    assert not app.exception
    with read_session(engine) as session:
        queued = session.exec(select(Run).where(Run.status == "queued")).one()
    assert queued.approve_safety is True
    assert queued.trigger == "manual"
