"""Production settings pass Django's deployment checks."""
import os
import subprocess
import sys

from tests.conftest import ROOT

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-long-random-production-key-" + "x7Qp2Lk9Zr4Wm8Tn3Vb6Yc1Hd5Jf0Gs" * 2,
    "ALLOWED_HOSTS": "study.example.org",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "CACHE_URL": "redis://127.0.0.1:6379/0",
}


def run_manage(*args, env=None):
    # The child gets production settings, not the test run's (e2e tests allow async-unsafe calls).
    dropped = {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    full_env = {k: v for k, v in os.environ.items() if k not in dropped}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True)


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_the_participant_limit_is_counted_per_process():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "CACHE_URL"}
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "study.W001" in result.stderr + result.stdout and "CACHE_URL" in result.stderr + result.stdout


def test_production_settings_refuse_a_missing_secret_key():
    env = dict(PRODUCTION_ENV)
    env["SECRET_KEY"] = ""
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_plain_http_setting_turns_off_the_redirect_and_secure_cookies():
    env = dict(PRODUCTION_ENV, SECURE_SSL_REDIRECT="0")
    code = "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
    result = run_manage("shell", "-v", "0", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "False"]


def test_a_demo_checkout_runs_commands_without_debug_set_and_an_explicit_debug_0_still_refuses(tmp_path):
    (tmp_path / "local-dev").write_text("written by make demo\n")
    demo = {"EXPLAINLAB_VAR": str(tmp_path)}
    code = "from django.conf import settings as s; print(s.DEBUG)"
    result = run_manage("shell", "-v", "0", "-c", code, env=demo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]
    refused = run_manage("check", env={**demo, "DEBUG": "0"})
    assert refused.returncode != 0 and "SECRET_KEY" in refused.stderr
    (tmp_path / "local-dev").unlink()  # no marker: the default stays DEBUG=0, SECRET_KEY required
    assert "SECRET_KEY" in run_manage("check", env=demo).stderr


def test_the_url_configuration_loads_no_torch():
    """Participant pages are served by processes that never wait for torch: the builder's, the gallery's and
    the workers' code paths load it where they use it."""
    code = ("import sys; import config.urls; import study.survey.views; import explainers; "
            "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    result = run_manage("shell", "-v", "0", "-c", code, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]"]
