"""The local cloud refuses a port base whose ports reach into the kernel's ephemeral range: an outgoing
connection may hold such a port when a server binds it (a PostgreSQL failed so on 32800)."""

from __future__ import annotations

from localcloud.cloud import PORT_SPAN, _ephemeral_overlap
from localcloud.config import Config


def test_a_base_reaching_the_ephemeral_range_is_refused_naming_the_variable(tmp_path):
    ranges = tmp_path / "ip_local_port_range"
    ranges.write_text("32768\t60999\n")
    assert _ephemeral_overlap(Config(port_base=16000), ranges) == ""
    assert _ephemeral_overlap(Config(port_base=32768 - PORT_SPAN), ranges) == ""
    why = _ephemeral_overlap(Config(port_base=32000), ranges)
    assert "SPOTFLOW_LOCALCLOUD_PORT_BASE=32000" in why and "32768-60999" in why and "from 1024 to 31768" in why
    assert _ephemeral_overlap(Config(port_base=40000), ranges)
    assert _ephemeral_overlap(Config(port_base=16000), tmp_path / "missing") == ""
