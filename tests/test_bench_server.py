"""bench/_server.py: a real `streamlit run app.py` comes up, answers health, is measured, and goes away."""

from __future__ import annotations

import urllib.request

from bench._server import AppServer, process_tree, status_kb


def test_server_starts_answers_health_and_stops(tmp_path):
    server = AppServer(log_path=tmp_path / "server.log")
    with server:
        assert server.healthy()
        with urllib.request.urlopen(server.url, timeout=10) as r:
            assert r.status == 200
            assert b'<div id="root">' in r.read()  # Streamlit's front-end shell
        pid = server.proc.pid
        assert pid in process_tree(pid)
        assert status_kb(pid, "VmRSS") > 10 * 1024  # a Python process with streamlit imported: > 10 MiB
        rss_now = server.memory.sample()
        assert rss_now > 10
    assert server.proc.poll() is not None  # the process has exited
    assert not server.healthy()
    assert server.memory.peak_tree_mib >= rss_now
    assert server.memory.peak_hwm_mib >= rss_now * 0.9  # VmHWM is the kernel's peak, not below a sample
    assert status_kb(pid, "VmRSS") == 0  # /proc entry gone
