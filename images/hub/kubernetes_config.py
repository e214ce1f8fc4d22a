"""The kdlab course hub on Kubernetes: KubeSpawner settings for Zero to JupyterHub.

The same hub as `kdlab hub` (images/hub/jupyterhub_config.py) with KubeSpawner in
place of DockerSpawner, as configuration only: give it to the Zero to JupyterHub
chart as extra hub configuration,

    helm upgrade --install kdlab jupyterhub/jupyterhub --values images/hub/z2jh-values.yaml \
        --set-file hub.extraConfig.kdlab=images/hub/kubernetes_config.py

which runs it after the chart's own configuration, so these settings win. One
pod per user from the lab image pushed to the cluster's registry, a PVC per user
on the work folder, the course's exchange on a ReadWriteMany PVC every pod
mounts, CPU and memory limits, the start script's uid per student (the trust
model of grader/hub/__init__.py holds as with Docker). tests/unit/test_hub_kubernetes.py
loads this file into the real KubeSpawner and checks the pod it would make.
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

#: The lab image as pushed to the cluster's registry (built by `kdlab image build lab`).
LAB_IMAGE = os.environ.get("KDLAB_LAB_IMAGE", "registry.example.edu/kdlab/lab:trixie")
#: A ReadWriteMany claim (NFS, CephFS...) made once for the course: nbgrader's exchange.
EXCHANGE_CLAIM = "kdlab-exchange"
#: The instructor's course (source, release, gradebook): ReadWriteOnce is enough.
COURSE_CLAIM = "kdlab-course"
UID_BASE = 100000
WORK = "/home/student/work"

c.KubeSpawner.image = LAB_IMAGE
c.KubeSpawner.cmd = ["start-lab"]
c.KubeSpawner.default_url = "/lab"
c.KubeSpawner.start_timeout = 300
c.KubeSpawner.http_timeout = 180
c.KubeSpawner.mem_limit = "2G"
c.KubeSpawner.mem_guarantee = "1G"
c.KubeSpawner.cpu_limit = 1.0
c.KubeSpawner.cpu_guarantee = 0.5
# start-lab starts as root only to give the work folder to the user's uid, then drops.
c.KubeSpawner.uid = 0
c.KubeSpawner.container_security_context = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"],
                     "add": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"]},
}
# The user's work: a PVC per user, kept when the pod goes (image upgrades, culling).
c.KubeSpawner.storage_pvc_ensure = True
c.KubeSpawner.pvc_name_template = "kdlab-user-{user_server}"
c.KubeSpawner.storage_capacity = "5Gi"
c.KubeSpawner.storage_access_modes = ["ReadWriteOnce"]
c.KubeSpawner.volumes = [
    {"name": "work", "persistentVolumeClaim": {"claimName": "{pvc_name}"}},
    {"name": "exchange", "persistentVolumeClaim": {"claimName": EXCHANGE_CLAIM}},
]
c.KubeSpawner.volume_mounts = [
    {"name": "work", "mountPath": WORK},
    {"name": "exchange", "mountPath": "/srv/nbgrader/exchange"},
]
# Students reach the hub and nothing else (Z2JH's singleuser NetworkPolicy; its
# values file turns egress off).
c.KubeSpawner.extra_labels = {"kdlab.role": "user"}


def prepare(spawner):
    """The instructor gets the course claim as ~/work; each student their own uid."""
    user = spawner.user
    if user.admin:
        spawner.volumes = [v for v in spawner.volumes if v["name"] != "work"] + [
            {"name": "work", "persistentVolumeClaim": {"claimName": COURSE_CLAIM}}]
        extra = {"KDLAB_ROLE": "instructor"}
    else:
        extra = {"KDLAB_ROLE": "student", "KDLAB_UID": str(UID_BASE + user.id)}
    spawner.environment = {**spawner.environment, **extra}


c.KubeSpawner.pre_spawn_hook = prepare
