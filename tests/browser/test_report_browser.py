"""The report of a real lab run, opened in headless Chromium: every host, the rolled-back one marked,
the window per binding, and nothing loaded from anywhere but the page itself.

The record is made the way a change manager makes one: render, plan and apply through the CLI, over
real pypsrp, against three lab hosts, with the live add failing (netsh error 1312) on the second
host so that apply.ps1 rolls that host back while the other two change. Each host changes two
bindings: 0.0.0.0:443 by delete+add (a window with no binding) and the SNI binding by one update
(no window).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli import cli
from tests.e2e.test_remote_harness import NEW_CERT, LabHosts, lab_hosts

pytestmark = [pytest.mark.lab, pytest.mark.pwsh, pytest.mark.slow, pytest.mark.timeout(900)]

CHANGE = "CHG0000900"
MAIN = "ipport=0.0.0.0:443"
SNI = "hostnameport=api.contoso.com:443"
TITLE = "Renew <script>alert(1)</script> <!-- api"


@pytest.fixture(scope="module")
def lab_run(pwsh: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabHosts, str]]:
    """A record with a plan and an applied run in which the second host rolled back."""
    tmp = tmp_path_factory.mktemp("report-lab")
    with lab_hosts(tmp, pwsh, count=3) as lab:
        bindings = [
            {"ipport": "0.0.0.0:443", "certhash": NEW_CERT, "swap": "replace"},
            {"hostnameport": "api.contoso.com:443", "certhash": NEW_CERT, "certstorename": "WebHosting"},
        ]
        spec = lab.spec(CHANGE, bindings)
        spec.write_text(spec.read_text().replace(f"title: {CHANGE} test change", f"title: '{TITLE}'"))
        assert lab.plan(spec).exit_code == 3
        faulted = lab.hosts[1]
        lab.fault(faulted, on="add", error=1312, target="0.0.0.0:443")  # the live add, not the trial
        result = lab.apply(CHANGE)
        assert result.exit_code == 1, result.output
        yield lab, faulted


@pytest.fixture(scope="module")
def report_file(lab_run: tuple[LabHosts, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    lab, _ = lab_run
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(cli, ["report", str(lab.record(CHANGE)), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_report_shows_every_host_the_rolled_back_one_and_each_window(
    chromium: Any, lab_run: tuple[LabHosts, str], report_file: Path, tmp_path: Path
) -> None:
    lab, faulted = lab_run
    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(report_file.as_uri())

    assert page.title() == f"{CHANGE}: {TITLE}"  # the title as text: its <script> is not markup
    assert page.locator("script").count() == 0
    assert TITLE in page.locator("h1").inner_text()

    run = page.locator(".run[data-kind=apply]")
    assert run.count() == 1
    for host in lab.hosts:
        box = run.locator(f'.host-run[data-host="{host}"]')
        assert box.count() == 1, host
        assert page.locator(f'.plan-host[data-host="{host}"]').count() == 1, host
        assert run.locator(f'svg.fleet g.bar[data-host="{host}"]').count() == 1, host
        classes = box.get_attribute("class") or ""
        windows = {
            row.get_attribute("data-binding"): row.inner_text() for row in box.locator("tr.window").all()
        }
        assert set(windows) == {MAIN, SNI}, windows  # the window of every binding, every host
        if host == faulted:
            assert "then rolled back" in windows[MAIN], windows
            assert "rolled-back" in classes and box.get_attribute("data-status") == "rolled-back"
            assert "ROLLED BACK" in box.locator("h4").inner_text()
            assert "rollback" in box.locator("table.timeline").inner_text()
        else:
            assert "rolled-back" not in classes and box.get_attribute("data-status") == "applied"
            assert "ROLLED BACK" not in box.inner_text()
            assert "without a binding" in windows[MAIN] and " ms " in windows[MAIN], windows
            assert "updated in place" in windows[SNI], windows
            steps = box.locator("table.timeline").inner_text()
            assert all(phase in steps for phase in ("capture", "trial", "change", "verify")), steps

    plan = page.locator(f'.plan-host[data-host="{lab.hosts[0]}"]')
    assert "delete+add" in plan.locator(f'.plan-binding[data-binding="{MAIN}"] .window').inner_text()
    assert "netsh http delete sslcert ipport=0.0.0.0:443" in plan.locator("pre.commands").first.inner_text()
    assert page.locator("#integrity-status").inner_text() == "intact"
    assert page.locator("#signature-status").inner_text() in ("unsigned", "signed")

    assert requested == [report_file.as_uri()], requested  # self-contained: nothing else fetched
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    print(f"report screenshot: {shot}")
    assert shot.stat().st_size > 10_000
