"""The package works installed: a wheel built from the repo, in a fresh virtualenv and run from outside
the repo, renders an alert's email and the alert's page from the templates it ships; and no module of
the package grows past what one can read at once."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 400

RENDER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from pathlib import Path

    import alertnet
    from alertnet.content.alerts import alert_message
    from alertnet.content.pages import alert_page_html
    from alertnet.domain.alert_request import example_alert_request, parse_alert_request
    from alertnet.domain.alerts import new_alert

    assert Path(sys.argv[1]) in Path(alertnet.__file__).parents, alertnet.__file__
    now = datetime.now(UTC)
    alert = new_alert(parse_alert_request(example_alert_request(), now=now), sender="director", now=now)
    email = alert_message(alert, code="K7Q-29D", link="https://hub.example/a/" + alert.id).content.email
    page = alert_page_html(
        alert.to_dict(),
        {"valid": True, "verification_code": "K7Q-29D", "key_id": "k", "signature": "s"},
        public_key="p",
    )
    print(email.subject)
    print("HTML", alert.headline in email.html, "TEXT", alert.headline in email.text)
    print("PAGE", alert.headline in page, "Signature verified" in page)
    """
)


@pytest.mark.timeout(600)
def test_an_installed_wheel_renders_an_alert_email_and_page(tmp_path: Path) -> None:
    # Built from a copy of what the wheel is made of, so the build leaves nothing in the checkout.
    source = tmp_path / "source"
    shutil.copytree(REPO / "alertnet", source / "alertnet", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(dist),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("alertnet-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    result = subprocess.run(
        [str(python), "-c", RENDER, str(venv)], cwd=outside, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Lockdown: armed intruder reported near campus",
        "HTML True TEXT True",
        "PAGE True True",
    ]


def test_no_module_is_longer_than_one_can_read_at_once() -> None:
    long = {
        str(path.relative_to(REPO)): n
        for path in (REPO / "alertnet").rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}
