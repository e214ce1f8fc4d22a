"""The hub on Kubernetes: images/hub/kubernetes_config.py loaded into the real KubeSpawner.

The file is what a Zero to JupyterHub install gets as hub.extraConfig (README);
here traitlets loads it as JupyterHub would, a KubeSpawner (jupyterhub-kubespawner,
no cluster needed to build a pod manifest) is made with it for a student and for the
instructor, the file's pre-spawn hook runs, and the pod KubeSpawner would create is
checked: the lab image, the limits, the user's own claim on the work folder, the
exchange claim, the student's own uid, the instructor's course claim. KubeSpawner
reads a kube-config when it is made: a minimal one names a cluster it never calls.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
from traitlets.config.loader import PyFileConfigLoader

from tests.conftest import REPO

CONFIG = REPO / "images" / "hub" / "kubernetes_config.py"
KUBECONFIG = """apiVersion: v1
kind: Config
current-context: course
clusters: [{name: course, cluster: {server: "https://127.0.0.1:6443"}}]
contexts: [{name: course, context: {cluster: course, user: hub}}]
users: [{name: hub, user: {token: unused}}]
"""


@pytest.fixture(autouse=True)
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(path))


def _pod(admin: bool, user_id: int, name: str):
    """(spawner, pod manifest) for a user, made in an event loop as JupyterHub makes them."""
    return asyncio.run(_spawn(admin, user_id, name))


async def _spawn(admin: bool, user_id: int, name: str):
    from kubespawner import KubeSpawner

    config = PyFileConfigLoader(CONFIG.name, path=str(CONFIG.parent)).load_config()
    user = SimpleNamespace(name=name, id=user_id, admin=admin, url=f"/user/{name}/")
    spawner = KubeSpawner(_mock=True, config=config, user=user)
    spawner.pre_spawn_hook(spawner)
    return spawner, await spawner.get_pod_manifest()


def _claims(pod) -> dict[str, str]:
    """Each volume of the pod by name: the claim it mounts (KubeSpawner leaves the claim
    as the configured dict)."""
    return {v.name: v.persistent_volume_claim["claimName"] for v in pod.spec.volumes
            if v.persistent_volume_claim}


def test_a_student_pod_has_the_lab_image_limits_own_volume_exchange_and_uid() -> None:
    spawner, pod = _pod(admin=False, user_id=7, name="ann")
    container = pod.spec.containers[0]
    assert container.image.endswith("/kdlab/lab:trixie")
    assert container.args[0] == "start-lab"
    assert container.resources.limits == {"cpu": 1.0, "memory": 2 << 30}
    claims = _claims(pod)
    assert claims["work"] == spawner.pvc_name and "ann" in spawner.pvc_name
    assert claims["exchange"] == "kdlab-exchange"
    mounts = {m.name: m.mount_path for m in container.volume_mounts}
    assert mounts == {"work": "/home/student/work", "exchange": "/srv/nbgrader/exchange"}
    env = {e.name: e.value for e in container.env}
    assert (env["KDLAB_ROLE"], env["KDLAB_UID"]) == ("student", "100007")
    security = container.security_context
    assert security["allowPrivilegeEscalation"] is False and security["runAsUser"] == 0
    assert security["capabilities"]["drop"] == ["ALL"]


def test_the_instructor_pod_mounts_the_course_instead() -> None:
    _, pod = _pod(admin=True, user_id=1, name="instructor")
    assert _claims(pod)["work"] == "kdlab-course"
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env["KDLAB_ROLE"] == "instructor" and "KDLAB_UID" not in env
