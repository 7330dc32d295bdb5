"""The broker of docker-compose.yml boots with Hearth's topology and the user the services log in
as. No Docker engine runs here, so a second RabbitMQ node is started directly, on ports of its
own, with the files compose mounts laid out where the container would see them; the machine's own
node is never touched."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pika
import pytest
import yaml
from broker_control import require_rabbitmqctl

from shared.bus import DELIVERY_LIMIT
from shared.testing import free_port, unavailable

pytestmark = pytest.mark.broker

ROOT = Path(__file__).parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DEFINITIONS = json.loads((ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text())
# Debian's package puts scripts in /usr/sbin that switch to the `rabbitmq` user, its data folder
# and its log files; the real ones are here. The node under test runs as whoever runs the tests,
# in the test's own folder.
PACKAGED_SCRIPTS = Path("/usr/lib/rabbitmq/bin")


def script(name: str) -> str:
    packaged = PACKAGED_SCRIPTS / name
    found = str(packaged) if packaged.is_file() else shutil.which(name)
    if found is None:
        unavailable(f"{name}, to start a second RabbitMQ node,", FileNotFoundError(name))
    assert found is not None
    return found


@dataclass
class Node:
    name: str
    port: int
    environment: dict[str, str]
    log: Path

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script("rabbitmqctl"), "-n", self.name, *args],
            env=self.environment, capture_output=True, text=True, timeout=120, check=check,
        )  # fmt: skip

    def running_processes(self) -> str:
        """The ids of this node's processes still alive (its beam.smp names it)."""
        found = subprocess.run(["pgrep", "-f", self.name], capture_output=True, text=True)
        return found.stdout.strip()


def lay_out_mounts(root: Path) -> Path:
    """The repository's files the compose broker mounts, copied to the same paths under `root`,
    with the container paths in its configuration pointed there too. Returns its conf.d."""
    for volume in COMPOSE["services"]["rabbitmq"]["volumes"]:
        source, target, *_ = volume.split(":")
        if not source.startswith("./"):
            continue  # a named volume: the node's data folder, given below
        copy = root / target.lstrip("/")
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / source, copy)
    conf_d = root / "etc" / "rabbitmq" / "conf.d"
    for conf in conf_d.glob("*.conf"):
        conf.write_text(conf.read_text().replace(" /etc/rabbitmq/", f" {root}/etc/rabbitmq/"))
    return conf_d


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    """A fresh RabbitMQ node booted as compose's container would boot, stopped afterwards (and
    checked to be gone) whatever the test did."""
    require_rabbitmqctl()
    server = script("rabbitmq-server")
    conf_d = lay_out_mounts(tmp_path / "container")
    (tmp_path / "rabbitmq.conf").write_text("")  # not the machine's own configuration
    (tmp_path / "rabbitmq-env.conf").write_text("")
    (tmp_path / "enabled_plugins").write_text("[].\n")  # the management UI's port is not ours
    cookie = tmp_path / ".erlang.cookie"
    cookie.write_text(uuid.uuid4().hex)
    cookie.chmod(0o400)
    name = f"hearth-boot-{uuid.uuid4().hex[:8]}@localhost"
    port = free_port()
    environment = {
        **os.environ,
        "HOME": str(tmp_path),  # the node and rabbitmqctl share this folder's cookie
        "RABBITMQ_NODENAME": name,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_CONF_ENV_FILE": str(tmp_path / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(tmp_path / "rabbitmq.conf"),
        "RABBITMQ_CONFIG_FILES": str(conf_d),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(tmp_path / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(tmp_path / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(tmp_path / "mnesia"),
        "RABBITMQ_LOG_BASE": str(tmp_path / "log"),
        "RABBITMQ_PID_FILE": str(tmp_path / "node.pid"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    node = Node(name, port, environment, tmp_path / "log" / f"{name}.log")
    with open(tmp_path / "server.out", "w") as output:
        process = subprocess.Popen(
            [server], env=environment, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        await_boot(node, process, tmp_path / "server.out")
        yield node
    finally:
        node.ctl("stop", check=False)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            # Our own session: the script and the node it started.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        assert node.ctl("status", check=False).returncode != 0, f"{name} still answers"
        assert node.running_processes() == "", f"{name} left processes behind"


def await_boot(node: Node, process: subprocess.Popen[bytes], output: Path) -> None:
    """Wait until the node has booted, definitions imported; fail with its own words if it
    stops instead."""
    deadline = time.monotonic() + 120
    while node.ctl("await_startup", "--timeout", "5", check=False).returncode:
        if process.poll() is not None:
            log = node.log.read_text() if node.log.exists() else ""
            pytest.fail(f"the node stopped while booting:\n{output.read_text()}\n{log[-4000:]}")
        assert time.monotonic() < deadline, "the node did not boot within two minutes"
        time.sleep(0.5)


def amqp_url(node: Node) -> str:
    """Compose's AMQP_URL, user and password included, pointed at this node."""
    url = urlsplit(COMPOSE["x-hearth-env"]["AMQP_URL"])
    return url._replace(netloc=f"{url.username}:{url.password}@127.0.0.1:{node.port}").geturl()


def connection(node: Node) -> pika.BlockingConnection:
    """Connected as compose's services are (kombu reads the vhost `/` from the path `//`; pika
    would read an empty one, so the URL is taken apart here)."""
    url = urlsplit(amqp_url(node))
    assert url.username and url.password
    credentials = pika.PlainCredentials(url.username, url.password)
    return pika.BlockingConnection(
        pika.ConnectionParameters(url.hostname, url.port, url.path[1:], credentials)
    )


def queues_on(node: Node) -> dict[str, dict[str, Any]]:
    listed = node.ctl("list_queues", "name", "type", "arguments", "--formatter", "json").stdout
    return {
        queue["name"]: {
            "type": queue["type"],
            "arguments": {k: v for k, _, v in queue["arguments"]},
        }
        for queue in json.loads(listed)
    }


def test_the_broker_boots_with_the_topology_and_the_services_user(node, tmp_path):
    # Compose's health check, which the services wait for, passes once the node listens.
    kind, command, *arguments = COMPOSE["services"]["rabbitmq"]["healthcheck"]["test"]
    assert (kind, command) == ("CMD", "rabbitmq-diagnostics")
    check = subprocess.run(
        [script(command), "-n", node.name, *arguments],
        env=node.environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr

    users = node.ctl("list_users", "--formatter", "json").stdout
    # Importing definitions at the first boot skips the default guest user; only ours exists.
    assert [user["user"] for user in json.loads(users)] == ["hearth"]

    defined = {queue["name"]: queue["arguments"] for queue in DEFINITIONS["queues"]}
    with connection(node) as amqp:
        channel = amqp.channel()
        for name in defined:
            channel.queue_declare(name, passive=True)  # closes the channel if missing
    found = queues_on(node)
    assert sorted(found) == sorted(defined)
    for name, arguments in defined.items():
        assert found[name] == {"type": "quorum", "arguments": arguments}, name
    work = {binding["destination"] for binding in DEFINITIONS["bindings"]}
    for name in work:
        assert found[name]["arguments"]["x-delivery-limit"] == DELIVERY_LIMIT
        assert found[name]["arguments"]["x-dead-letter-routing-key"] == f"{name}.dead"

    # compose's `migrate` still runs `hearth topology` over what was imported: it must agree.
    environment = {
        **{key: value for key, value in os.environ.items() if not key.endswith("_URL")},
        "HEARTH_DATA": str(tmp_path / "var"),
        "HEARTH_SECRET_KEY": "boot-test",
        "AMQP_URL": amqp_url(node),
    }
    declared = subprocess.run(
        [sys.executable, "-m", "hearth.cli", "topology"],
        env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert declared.returncode == 0, declared.stderr
    assert queues_on(node) == found

    binding = DEFINITIONS["bindings"][0]
    body = json.dumps({"id": uuid.uuid4().hex}).encode()
    with connection(node) as amqp:
        channel = amqp.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            binding["source"], binding["routing_key"], body,
            pika.BasicProperties(delivery_mode=2), mandatory=True,
        )  # fmt: skip
        method, _, received = channel.basic_get(binding["destination"])
        assert method is not None, f"nothing reached {binding['destination']}"
        channel.basic_ack(method.delivery_tag)
    assert received == body
